"""Scalable ICM (the paper's Algorithm 3): mutual predictability by fine-tuning on folds instead of in-context.

P(y_i | x_i, D \\ (x_i, y_i)) is approximated by P(y_i | x_i, D \\ D_t(i)): D is split into F disjoint folds,
a model fine-tuned on the other folds' labels relabels each fold, and Algorithm 4 (`decide_by_confidence`)
makes each round's labels consistent. This module holds the pure parts: the settings, the fold assignment and
the stopping rule. The fine-tuning and the job that survives a crash are in worker/scalable.py.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .config import _opt  # one way a field carries its help text (the CLI and the forms read it)
from .types import Example

SCALE_INITS = (
    "icm",
    "zero_shot",
)  # the first labels: Algorithm 1 on a subset that fits a context, or zero-shot


@dataclass
class ScaleConfig:
    """Algorithm 3's settings. The paper (App. G) gives no F, number of rounds or stopping rule: these defaults
    are ours (docs/scalable.md says what they were chosen from). Its fine-tuning settings (App. D.1: 3 epochs,
    LoRA rank 16 at lr 5e-5 for its 70B model) are the LoRA defaults here."""

    folds: int = _opt(4, "F: disjoint folds; each is relabeled by a model fine-tuned on the other F-1.")
    rounds: int = _opt(2, "R: at most this many rounds of F fine-tunes and relabeling.")
    min_changed: float = _opt(0.01, "Stop early once a round changes fewer than this share of the labels.")
    init: str = _opt("icm", "First labels: 'icm' (Algorithm 1 on a subset) or 'zero_shot' (every example).")
    subset: int = _opt(32, "Examples the 'icm' start labels with Algorithm 1 (groups kept whole).")
    seed: int = _opt(0, "Seed of the fold assignment, the subset and the fine-tuning.")
    epochs: int = _opt(3, "Fine-tuning passes over the training folds (paper: 3).")
    rank: int = _opt(16, "LoRA rank (paper: 16).")
    lr: float = _opt(5e-5, "LoRA learning rate (paper: 5e-5).")
    batch_size: int = _opt(8, "Examples per fine-tuning step (GPU: raise it).")
    calibrate: bool = _opt(True, "Calibrate each fold model's predictions with a content-free query.")

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError(f"folds={self.folds}: need at least 2 (each fold is labeled by the others)")
        if self.rounds < 1:
            raise ValueError(f"rounds={self.rounds}: need at least 1")
        if self.init not in SCALE_INITS:
            raise ValueError(f"init={self.init!r}: choose one of {', '.join(SCALE_INITS)}")
        if not 0 <= self.min_changed <= 1:
            raise ValueError(f"min_changed={self.min_changed}: a share, between 0 and 1")
        if self.subset < 2:
            raise ValueError(f"subset={self.subset}: need at least 2 examples")
        if self.epochs < 1 or self.rank < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs, rank and batch_size must be at least 1 and lr positive")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assign_folds(examples: Sequence[Example], folds: int, *, seed: int = 0) -> list[list[int]]:
    """Example ids per fold: every example in exactly one fold, a consistency group never split (its members
    would otherwise be predicted by a model trained on their own group's labels), groups in seeded random
    order, each placed in the fold that is smallest so far (so fold sizes differ by at most one group)."""
    units: dict[str, list[int]] = {}
    for e in examples:
        units.setdefault(e.group if e.group is not None else f"\0{e.idx}", []).append(e.idx)
    if len(units) < folds:
        raise ValueError(f"{len(units)} groups cannot fill {folds} folds: use fewer folds or more data")
    order = sorted(units)
    random.Random(f"folds-{seed}").shuffle(order)
    out: list[list[int]] = [[] for _ in range(folds)]
    for key in order:
        smallest = min(range(folds), key=lambda f: (len(out[f]), f))
        out[smallest].extend(units[key])
    return [sorted(f) for f in out]


def training_ids(folds: Sequence[Sequence[int]], f: int, labeled: Mapping[int, int]) -> list[int]:
    """The labeled examples fold f's model trains on: every other fold's, never fold f's own."""
    own = set(folds[f])
    return sorted(i for fold in folds for i in fold if i not in own and i in labeled)


def changed_share(before: Mapping[int, int], after: Mapping[int, int]) -> float:
    """Share of `after`'s labels that differ from `before` (a label new in `after` counts as changed)."""
    if not after:
        return 0.0
    return sum(before.get(i) != y for i, y in after.items()) / len(after)


def should_stop(rounds_done: int, last_changed: float | None, config: ScaleConfig) -> bool:
    """After R rounds, or once a round changed fewer than `min_changed` of the labels."""
    return rounds_done >= config.rounds or (last_changed is not None and last_changed < config.min_changed)
