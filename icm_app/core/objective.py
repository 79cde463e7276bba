"""U(D) = alpha * P(D) - I(D): mutual predictability from scorer log-odds, minus inconsistencies.

P is computed in one of two named ways (see P_MODES); calibration is applied before either.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .config import SearchConfig
from .consistency import Violation, find_violations, proportion_excess
from .context import loo_context
from .types import Example, Labels, Query, Scorer


def log_sigmoid(x: float) -> float:
    """log(1 / (1 + e^-x)) without overflow for large |x|."""
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def _signed(labels: Labels, logodds: Mapping[int, float]) -> list[float]:
    return [logodds[i] if y == 1 else -logodds[i] for i, y in labels.items()]


def mean_logodds(labels: Labels, logodds: Mapping[int, float]) -> float:
    """The authors' code: mean of log P(y) - log P(not y). alpha = 50 was tuned on this scale."""
    signed = _signed(labels, logodds)
    return sum(signed) / len(signed) if signed else 0.0


def sum_logprob(labels: Labels, logodds: Mapping[int, float]) -> float:
    """The paper's formula: sum of log P(y | x, D minus x), renormalised over the two label words."""
    return sum(log_sigmoid(s) for s in _signed(labels, logodds))


P_MODES: dict[str, Callable[[Labels, Mapping[int, float]], float]] = {
    "mean_logodds": mean_logodds,
    "sum_logprob": sum_logprob,
}


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of U(D); `logodds` holds each labeled example's (calibrated) leave-one-out log-odds."""

    U: float
    P: float
    I: int
    logodds: Mapping[int, float]
    violations: tuple[Violation, ...]


class Objective:
    """Evaluates U for label sets over one fixed dataset, context order and scorer."""

    def __init__(
        self,
        examples: Sequence[Example],
        scorer: Scorer,
        config: SearchConfig,
        *,
        order: Sequence[int],
        groups: Mapping[str, Sequence[Example]],
        rules: Sequence[str],
    ) -> None:
        self.scorer, self.config, self.rules, self.groups = scorer, config, tuple(rules), groups
        self.order = list(order)
        self.position = {idx: p for p, idx in enumerate(self.order)}
        self.evaluations = 0

    def queries(self, labels: Labels, targets: Sequence[int]) -> list[Query]:
        """The leave-one-out queries for `targets`, then their content-free twins when calibrating."""
        contexts = [loo_context(self.order, self.position, labels, t) for t in targets]
        queries = [Query(c, t) for c, t in zip(contexts, targets)]
        if self.config.calibrate:
            queries += [Query(c, t, content_free=True) for c, t in zip(contexts, targets)]
        return queries

    def logodds(self, labels: Labels, targets: Sequence[int]) -> dict[int, float]:
        """Leave-one-out log-odds of label 1 for each target, calibrated when configured."""
        scores = self.scorer.score(self.queries(labels, targets))
        n = len(targets)
        if self.config.calibrate:
            return {t: scores[k] - scores[n + k] for k, t in enumerate(targets)}
        return dict(zip(targets, scores))

    def evaluate(self, labels: Labels) -> Evaluation:
        self.evaluations += 1
        lo = self.logodds(labels, sorted(labels))
        p = P_MODES[self.config.p_mode](labels, lo)
        violations = tuple(find_violations(self.groups, labels, self.rules))
        excess = proportion_excess(labels, min_share=self.config.min_share, max_share=self.config.max_share)
        i = len(violations) + excess
        u = self.config.alpha * p - len(violations) - self.config.proportion_weight * excess
        return Evaluation(U=u, P=p, I=i, logodds=lo, violations=violations)
