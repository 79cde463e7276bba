"""Typed search configuration with the paper's defaults; one place for help texts and choices.

The CLI options and the app's help texts are generated from the field metadata.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .predictability import P_MODES
from .schedules import SCHEDULES

P_MODE_NAMES = tuple(P_MODES)  # ("mean_logodds", "sum_logprob"): the choices are the functions' names
SCHEDULE_NAMES = tuple(SCHEDULES)  # ("log", "exp")
INITS = ("random", "zero_shot")


MIN_AUTO_ITERATIONS = 50  # below this a run is mostly its K random labels and the completion phase


def _opt(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


def default_iterations(n_examples: int) -> int:
    """ceil(N * H_N), H_N = 1 + 1/2 + ... + 1/N: the expected number of uniform draws before every one of N
    examples has been proposed at least once (the coupon collector), so each example gets about one chance
    to be labeled or corrected. N = 32: 130; 64: 304; 256: 1,568 (the paper runs thousands for 256)."""
    harmonic = sum(1.0 / k for k in range(1, n_examples + 1))
    return max(MIN_AUTO_ITERATIONS, math.ceil(n_examples * harmonic))


def iterations_reason(n_examples: int) -> str:
    """One line saying how the automatic iteration budget was chosen (printed by `icm run`)."""
    return (
        f"iterations {default_iterations(n_examples)} (automatic: N*H_N for N = {n_examples}, the expected number "
        "of uniform draws before every example has been proposed once, at least "
        f"{MIN_AUTO_ITERATIONS}; the paper runs thousands for 256 examples; --iterations sets it)"
    )


@dataclass
class SearchConfig:
    """Hyper-parameters of Algorithms 1 and 2 (Wen et al. 2025, §2 and Appendix)."""

    alpha: float = _opt(
        50.0,
        "Weight of mutual predictability P in U = alpha*P - rule_violations - proportion_weight*proportion_excess "
        "(paper: 50; 20-30 if almost nothing is accepted).",
    )
    k_init: int = _opt(8, "Examples labeled at random (balanced) before the search starts (paper: K=8).")
    init: str = _opt(
        "random",
        "How the K starting labels are chosen: random (balanced; the paper) or zero_shot (the K examples whose "
        "zero-shot answer is most confident, with that answer; beyond the paper).",
        choices=INITS,
    )
    t0: float = _opt(10.0, "Initial temperature T_0 (paper: 10).")
    t_min: float = _opt(0.01, "Final temperature T_min (paper: 0.01).")
    beta: float = _opt(0.99, "Cooling rate beta (paper: 0.99).")
    schedule: str = _opt(
        "log", "Temperature schedule: log T0/(1+beta*ln n) (paper) or exp T0*beta^n.", choices=SCHEDULE_NAMES
    )
    iterations: int | None = _opt(
        None,
        "Search iterations N_iter; every iteration counts, accepted or not. Unset: N*H_N for N examples "
        "(about N ln N: every example proposed about once; 130 for 32, 1,568 for 256).",
    )
    fix_rounds: int = _opt(10, "ConsistencyFix rounds M per iteration (Algorithm 2).")
    seed: int = _opt(0, "Random seed: the same seed, data and model give the same run.")
    p_mode: str = _opt(
        "mean_logodds",
        "How P is computed: mean signed log-odds (the authors' code, on which alpha=50 was tuned; default) "
        "or the paper's sum of log P(y) over the label words.",
        choices=P_MODE_NAMES,
    )
    calibrate: bool = _opt(
        False, "Contextual calibration: subtract the log-odds of a content-free query in the same context."
    )
    group_weight: float = _opt(
        100.0, "Sampling weight of unlabeled examples that share a group with a labeled one (paper: ~100x)."
    )
    min_share: float | None = _opt(
        None, "Label-proportion rule (our extension): lowest allowed share of label 1; off when unset."
    )
    max_share: float | None = _opt(
        None, "Label-proportion rule (our extension): highest allowed share of label 1; off when unset."
    )
    proportion_weight: float = _opt(
        50.0,
        "Cost in U of each label outside the share bounds. At alpha's scale this makes the bounds nearly hard: "
        "measured on the sentiment sample, a one-class labeling beats gold by ~1 in mean P, so a weight of 1 "
        "(a plain inconsistency) does not hold it back.",
    )
    complete: bool = _opt(
        True,
        "Completion phase (our addition; the paper stops with whatever is labeled): after the last iteration "
        "each unlabeled example, in the run's seeded order, gets the label of higher U, then ConsistencyFix.",
    )
    swap_prob: float = _opt(
        0.0,
        "Balance-keeping swap move (beyond the paper; 0 = the paper's search): the probability that an "
        "iteration proposes swapping the labels of one unpinned 1-labeled and one 0-labeled example instead "
        "of a single flip. Keeps the class counts, so it can move along the proportion rule's bound.",
    )
    restarts: int = _opt(
        1,
        "Independent chains over the same context order, each with its own random stream from the seed; "
        "the chain with the highest U gives the run's labels (R chains cost R times the iterations).",
    )

    def __post_init__(self) -> None:
        checks = [
            ("alpha", self.alpha > 0, "must be > 0"),
            ("k_init", self.k_init >= 1, "must be >= 1"),
            ("t0", self.t0 > 0, "must be > 0"),
            ("t_min", 0 < self.t_min <= self.t0, "must be in (0, t0]"),
            ("beta", self.beta > 0, "must be > 0"),
            ("iterations", self.iterations is None or self.iterations >= 0, "must be >= 0 or unset"),
            ("swap_prob", 0.0 <= self.swap_prob <= 1.0, "must be in [0, 1]"),
            ("restarts", self.restarts >= 1, "must be >= 1"),
            ("fix_rounds", self.fix_rounds >= 0, "must be >= 0"),
            ("group_weight", self.group_weight > 0, "must be > 0"),
            ("proportion_weight", self.proportion_weight >= 0, "must be >= 0"),
            ("schedule", self.schedule in SCHEDULE_NAMES, f"must be one of {', '.join(SCHEDULE_NAMES)}"),
            ("p_mode", self.p_mode in P_MODE_NAMES, f"must be one of {', '.join(P_MODE_NAMES)}"),
            ("init", self.init in INITS, f"must be one of {', '.join(INITS)}"),
        ]
        if self.schedule == "exp":
            checks.append(("beta", self.beta < 1, "must be < 1 for the exp schedule"))
        for share in ("min_share", "max_share"):
            value = getattr(self, share)
            if value is not None:
                checks.append((share, 0.0 <= value <= 1.0, "must be in [0, 1]"))
        if self.min_share is not None and self.max_share is not None:
            checks.append(("min_share", self.min_share <= self.max_share, "must be <= max_share"))
        for name, ok, why in checks:
            if not ok:
                raise ValueError(f"SearchConfig.{name}={getattr(self, name)!r}: {why}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def resolved(self, n_examples: int) -> SearchConfig:
        """This config with the automatic iteration budget filled in for `n_examples` (stored with a run)."""
        if self.iterations is not None:
            return self
        return replace(self, iterations=default_iterations(n_examples))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown search settings: {', '.join(sorted(unknown))}")
        return cls(**data)
