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
    log_t = math.log(t0) + n * math.log(beta)
    return max(t_min, math.exp(log_t)) if log_t > math.log(t_min) else t_min


SCHEDULES: dict[str, Callable[..., float]] = {"log": log_schedule, "exp": exp_schedule}


def temperature(name: str, n: int, *, t0: float, t_min: float, beta: float) -> float:
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; valid: {', '.join(SCHEDULES)}")
    return SCHEDULES[name](n, t0=t0, t_min=t_min, beta=beta)


def acceptance_probability(delta: float, temperature: float) -> float:
    """1 for an improvement, else exp(delta / T); delta <= 0 here, so exp never overflows."""
    if delta > 0:
        return 1.0
    return math.exp(max(delta / temperature, -745.0))
