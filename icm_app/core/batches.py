"""Splitting a dataset that does not fit one context into batches, keeping consistency groups whole."""

from __future__ import annotations

import random
from collections.abc import Sequence

from .types import Example


def split_batches(examples: Sequence[Example], batch_size: int, *, seed: int = 0) -> list[list[int]]:
    """Example ids per batch: groups never split, group order shuffled (file order must not leak).

    A group larger than `batch_size` gets a batch of its own rather than being cut.
    """
    if batch_size < 2:
        raise ValueError(f"batch_size={batch_size}: need at least 2 examples per batch")
    units: dict[str, list[int]] = {}
    for e in examples:
        units.setdefault(e.group if e.group is not None else f"\0{e.idx}", []).append(e.idx)
    order = sorted(units)
    random.Random(f"batches-{seed}").shuffle(order)
    batches: list[list[int]] = [[]]
    for key in order:
        members = units[key]
        if batches[-1] and len(batches[-1]) + len(members) > batch_size:
            batches.append([])
        batches[-1].extend(members)
    return [sorted(b) for b in batches if b]
