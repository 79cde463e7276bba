"""Temperature schedules and the Metropolis acceptance rule of Algorithm 1."""

from __future__ import annotations

import math
from collections.abc import Callable


def log_schedule(n: int, *, t0: float, t_min: float, beta: float) -> float:
    """The paper's T_n = max(T_min, T_0 / (1 + beta * ln n)), n = iteration count from 1 (not accepted flips)."""
    if n < 1:
        raise ValueError(f"iteration n={n} must be >= 1")
    return max(t_min, t0 / (1.0 + beta * math.log(n)))


def exp_schedule(n: int, *, t0: float, t_min: float, beta: float) -> float:
    """T_n = max(T_min, T_0 * beta^n), in log space so that large n underflows to T_min instead of erroring."""
    if n < 1:
        raise ValueError(f"iteration n={n} must be >= 1")
    if not 0 < beta < 1:
        raise ValueError(f"the exp schedule needs 0 < beta < 1; got beta={beta}")
    return max(t_min, math.exp(math.log(t0) + n * math.log(beta)))  # underflows to 0.0, never overflows


SCHEDULES: dict[str, Callable[..., float]] = {"log": log_schedule, "exp": exp_schedule}


def temperature(name: str, n: int, *, t0: float, t_min: float, beta: float) -> float:
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; valid: {', '.join(SCHEDULES)}")
    return SCHEDULES[name](n, t0=t0, t_min=t_min, beta=beta)


def acceptance_probability(delta: float, temperature: float) -> float:
    """min(1, exp(delta / T)): 1 for an improvement. The exponent is capped at 0, so exp never overflows
    (a very negative one underflows to 0.0, which is not an error)."""
    return math.exp(min(0.0, delta / temperature))
