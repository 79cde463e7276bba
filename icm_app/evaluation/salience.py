"""Is the concept salient? Compare the run's mutual predictability with labelings the model should not prefer.

Uses no gold labels: random labelings with the run's class balance, and shuffles of the run's own labels.
If the run's P is not clearly above them, the labels are as predictable as noise: ICM has not found a concept.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..core.objective import Objective
from ..core.types import Labels

EXPLANATION = (
    "ICM keeps the labels that the model finds most mutually predictable. If the model has no notion of the "
    "concept, nothing ties the labels to the inputs, and a random labeling with the same class balance, or "
    "the run's own labels shuffled across examples, is about as predictable. This check scores such "
    "labelings with the same model and context order, without any gold labels. When the run's labels do not "
    "beat nearly all of them, treat the labels as unreliable: the concept is probably not salient to this model. "
    "Beating them shows only that the model found *some* coherent concept, not necessarily the intended one; "
    "labels that are nearly all one class are flagged too, as the degenerate solution."
)


COLLAPSED = 0.85  # a labeling this one-sided is the degenerate solution DESIGN §4 warns about


@dataclass(frozen=True)
class SalienceReport:
    run_p: float
    baseline_ps: tuple[float, ...]
    majority_share: float = 0.5

    @property
    def beaten(self) -> float:
        """Share of baseline labelings whose P the run's labels exceed."""
        return sum(self.run_p > p for p in self.baseline_ps) / len(self.baseline_ps)

    @property
    def collapsed(self) -> bool:
        return self.majority_share >= COLLAPSED

    @property
    def salient(self) -> bool:
        return self.beaten >= 0.95 and not self.collapsed

    def verdict(self) -> str:
        if self.collapsed:
            return (
                f"WARNING: {self.majority_share:.0%} of the labels are one class: the search has collapsed to the "
                "degenerate solution, whatever the model finds predictable. Treat the labels as unreliable."
            )
        if self.salient:
            return f"Salient: the run's labels beat {self.beaten:.0%} of {len(self.baseline_ps)} shuffled/random labelings."
        return (
            f"WARNING: the run's labels beat only {self.beaten:.0%} of {len(self.baseline_ps)} shuffled/random "
            "labelings; the concept is probably not salient to this model."
        )


def salience(objective: Objective, labels: Labels, *, samples: int = 8, seed: int = 0) -> SalienceReport:
    """P of the run's labels vs `samples` baselines: half shuffles of its labels, half balanced random draws."""
    rng = random.Random(seed)
    ids, values = sorted(labels), [labels[i] for i in sorted(labels)]
    ones = sum(values)
    baselines = []
    for k in range(samples):
        if k % 2 == 0:
            shuffled = values[:]
            rng.shuffle(shuffled)
        else:
            chosen = set(rng.sample(range(len(ids)), ones))
            shuffled = [1 if j in chosen else 0 for j in range(len(ids))]
        baselines.append(objective.evaluate(dict(zip(ids, shuffled))).P)
    share = max(ones, len(values) - ones) / len(values)
    return SalienceReport(objective.evaluate(dict(labels)).P, tuple(baselines), share)
