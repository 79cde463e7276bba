"""U(D) = alpha * P(D) - rule_violations(D) - proportion_weight * proportion_excess(D).

Mutual predictability from scorer log-odds (two named ways, see P_MODES; calibration applied before
either), minus the paper's I(D) (rule violations) and the label-proportion rule's weighted excess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .config import SearchConfig
from .consistency import Violation, find_violations, proportion_excess
from .context import loo_context
from .predictability import P_MODES
from .types import Example, Labels, Query, Scorer


def zero_shot_logodds(scorer: Scorer, targets: Sequence[int], *, calibrate: bool) -> dict[int, float]:
    """Log-odds of label 1 for each target with no demonstrations; calibrated by one content-free query."""
    targets = list(targets)
    queries = [Query((), t) for t in targets]
    if calibrate and targets:
        queries.append(Query((), targets[0], content_free=True))
    scores = scorer.score(queries)
    shift = scores[-1] if calibrate and targets else 0.0
    return {t: s - shift for t, s in zip(targets, scores)}


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of U(D) with its named terms: U = alpha * P - rule_violations - proportion_weight *
    proportion_excess. Higher U is better. Without share bounds proportion_excess is 0 and this is the
    paper's U = alpha * P - I. `logodds` holds each labeled example's (calibrated) leave-one-out log-odds.
    """

    P: float  # mutual predictability under the run's p_mode
    rule_violations: int  # the paper's I(D): violated consistency rules among labeled examples
    proportion_excess: int  # labels outside the share bounds (our extension; 0 when off)
    alpha: float  # weight of P
    proportion_weight: float  # cost in U of each label of proportion_excess
    logodds: Mapping[int, float]
    violations: tuple[Violation, ...]

    @property
    def U(self) -> float:
        return self.alpha * self.P - self.rule_violations - self.proportion_weight * self.proportion_excess

    @property
    def I(self) -> int:  # noqa: E743 (the paper's name)
        """Broken constraints, unweighted: rule violations plus labels outside the share bounds."""
        return self.rule_violations + self.proportion_excess

    def terms(self) -> dict[str, float]:
        """The named terms as stored in events and exports (U first)."""
        return {
            "U": self.U, "alpha": self.alpha, "P": self.P, "rule_violations": self.rule_violations,
            "proportion_weight": self.proportion_weight, "proportion_excess": self.proportion_excess,
        }  # fmt: skip


class Objective:
    """Evaluates U for label sets over one fixed dataset, context order and scorer."""

    def __init__(
        self,
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
        """U of the label set `labels` (idx -> 0/1), with every term named."""
        self.evaluations += 1
        lo = self.logodds(labels, sorted(labels))
        c = self.config
        violations = tuple(find_violations(self.groups, labels, self.rules))
        return Evaluation(
            P=P_MODES[c.p_mode](labels, lo),
            rule_violations=len(violations),
            proportion_excess=proportion_excess(labels, min_share=c.min_share, max_share=c.max_share),
            alpha=c.alpha,
            proportion_weight=c.proportion_weight,
            logodds=lo,
            violations=violations,
        )
