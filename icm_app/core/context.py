"""Which demonstrations precede each query, and in what order.

A fixed binary tree over a seeded permutation of all examples: a query's context is the labeled part of
each sibling range on its root-to-leaf path. Every query sees all other labeled examples (the paper's
leave-one-out), the order is a function of the label set alone (so U is a function of D), dataset order
never leaks (the permutation is shuffled), and queries in one subtree share their whole prefix, which the
caching scorer turns into O(N log N) tokens per evaluation instead of O(N^2).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from .types import Labels


def shuffled_order(ids: Sequence[int], seed: int) -> list[int]:
    """A seeded permutation of example ids, so that file order (e.g. Alpaca's True-first pairs) never leaks."""
    order = sorted(ids)
    random.Random(f"order-{seed}").shuffle(order)
    return order


def loo_context(
    order: Sequence[int], position: Mapping[int, int], labels: Labels, target: int
) -> tuple[tuple[int, int], ...]:
    """(idx, label) demonstrations for `target`: all labeled examples except `target`, in tree order."""
    p = position[target]
    lo, hi = 0, len(order)
    demos: list[tuple[int, int]] = []
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if p < mid:
            sibling, hi = order[mid:hi], mid
        else:
            sibling, lo = order[lo:mid], mid
        demos.extend((i, labels[i]) for i in sibling if i in labels)
    return tuple(demos)
