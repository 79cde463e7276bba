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
    "beat nearly all of them, treat the labels as unreliable: the concept is probably not salient to this model."
)


@dataclass(frozen=True)
class SalienceReport:
    run_p: float
    baseline_ps: tuple[float, ...]

    @property
    def beaten(self) -> float:
        """Share of baseline labelings whose P the run's labels exceed."""
        return sum(self.run_p > p for p in self.baseline_ps) / len(self.baseline_ps)

    @property
    def salient(self) -> bool:
        return self.beaten >= 0.95

    def verdict(self) -> str:
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
    return SalienceReport(objective.evaluate(dict(labels)).P, tuple(baselines))
