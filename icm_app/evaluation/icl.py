"""Held-out accuracy of zero-shot and many-shot ICL with ICM, gold, random and overridden labels.

Every method uses the same demonstration examples per seed (only their labels differ), so contexts have
the same length; test items never enter a context and gold labels enter only the `gold` method.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..core.types import Example, Query, Scorer

METHODS = ("zero-shot", "icm", "gold", "random", "overridden")


@dataclass(frozen=True)
class MethodResult:
    method: str
    accuracies: tuple[float, ...]  # one per seed

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def std(self) -> float:
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else 0.0


def demo_labels(
    method: str,
    demos: Sequence[int],
    *,
    icm: dict[int, int],
    gold: dict[int, int] | None,
    overridden: dict[int, int],
    rng: random.Random,
) -> tuple[tuple[int, int], ...] | None:
    """The (idx, label) context for a method, or None when the method cannot be run (no gold, no overrides)."""
    if method == "zero-shot":
        return ()
    if method == "icm":
        return tuple((i, icm[i]) for i in demos)
    if method == "gold":
        return None if gold is None else tuple((i, gold[i]) for i in demos)
    if method == "random":
        return tuple((i, rng.randint(0, 1)) for i in demos)
    if method == "overridden":
        return None if not overridden else tuple((i, overridden.get(i, icm[i])) for i in demos)
    raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")


def evaluate_icl(
    scorer: Scorer,
    train: dict[int, int],
    test: dict[int, int],
    *,
    gold: dict[int, int] | None = None,
    overridden: dict[int, int] | None = None,
    n_demos: int = 16,
    seeds: Sequence[int] = (0, 1, 2),
    calibrate: bool = False,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[MethodResult]:
    """Accuracy on `test` (idx -> gold) of each method, over seeds that draw the demonstrations.

    `train` holds the run's ICM labels (idx -> label); `gold` the training file's gold labels, used only by
    the `gold` method; `overridden` the researcher's pinned labels. Predictions are argmax of the (optionally
    calibrated) log-odds.
    """
    overridden = overridden or {}
    results: dict[str, list[float]] = {m: [] for m in METHODS}
    labeled = sorted(train)
    for seed in seeds:
        rng = random.Random(seed)
        demos = rng.sample(labeled, min(n_demos, len(labeled)))
        for method in METHODS:
            context = demo_labels(method, demos, icm=train, gold=gold, overridden=overridden, rng=rng)
            if context is None:
                continue
            results[method].append(accuracy(scorer, context, test, calibrate=calibrate))
            progress(f"seed {seed}: {method} {results[method][-1]:.3f}")
    return [MethodResult(m, tuple(a)) for m, a in results.items() if a]


def accuracy(
    scorer: Scorer, context: tuple[tuple[int, int], ...], test: dict[int, int], *, calibrate: bool
) -> float:
    targets = sorted(test)
    queries = [Query(context, t) for t in targets]
    if calibrate:
        queries.append(Query(context, targets[0], content_free=True))
    scores = scorer.score(queries)
    shift = scores[-1] if calibrate else 0.0
    return sum((1 if s - shift >= 0 else 0) == test[t] for s, t in zip(scores, targets)) / len(targets)


def combined_examples(
    train: Sequence[Example], test: Sequence[Example]
) -> tuple[list[Example], dict[int, int]]:
    """One example list for the scorer: test items renumbered after the training ones (old idx -> new idx)."""
    offset = max(e.idx for e in train) + 1
    moved = {e.idx: offset + k for k, e in enumerate(test)}
    return list(train) + [Example(moved[e.idx], e.fields) for e in test], moved
