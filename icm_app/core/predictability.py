"""How the model's leave-one-out log-odds become mutual predictability P (the two named P modes) and a
preferred label. The one home of both decisions: the objective, the search, the baselines and the
explanations all read them here."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from .types import Labels


def log_sigmoid(x: float) -> float:
    """log(1 / (1 + e^-x)) = min(x, 0) - log(1 + e^-|x|), which never overflows."""
    return min(x, 0.0) - math.log1p(math.exp(-abs(x)))


def _signed(labels: Labels, logodds: Mapping[int, float]) -> list[float]:
    return [logodds[i] if y == 1 else -logodds[i] for i, y in labels.items()]


def mean_logodds(labels: Labels, logodds: Mapping[int, float]) -> float:
    """The authors' code: mean of log P(y) - log P(not y). alpha = 50 was tuned on this scale."""
    signed = _signed(labels, logodds)
    return sum(signed) / len(signed) if signed else 0.0


def sum_logprob(labels: Labels, logodds: Mapping[int, float]) -> float:
    """The paper's formula: sum of log P(y | x, D minus x), renormalised over the two label words."""
    return sum(log_sigmoid(s) for s in _signed(labels, logodds))


TIE_TOLERANCE = 1e-12  # U values or log-odds this close are a tie (equal up to float rounding)


def preferred_label(logodds: float) -> int | None:
    """The label the model prefers, argmax_y P(y | ...): 1, 0, or None for a tie (|log-odds| within
    TIE_TOLERANCE), which each caller breaks its own way (the search by its seeded RNG)."""
    if logodds > TIE_TOLERANCE:
        return 1
    if logodds < -TIE_TOLERANCE:
        return 0
    return None


P_MODES: dict[str, Callable[[Labels, Mapping[int, float]], float]] = {
    "mean_logodds": mean_logodds,
    "sum_logprob": sum_logprob,
}
