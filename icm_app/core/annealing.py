"""Algorithm 1 (simulated-annealing label search) and Algorithm 2 (ConsistencyFix) of Wen et al. 2025.

The search is a step-by-step object so that a runner can persist, pause and pin between iterations;
its full state (labels, pins, iteration, RNG) round-trips through `SearchState.to_dict`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import SearchConfig
from .consistency import check_rules, consistent_options, group_members
from .context import shuffled_order
from .objective import Evaluation, Objective, zero_shot_logodds
from .predictability import TIE_TOLERANCE, preferred_label
from .schedules import acceptance_probability, temperature
from .types import Example, Labels, Scorer


def _tied(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TIE_TOLERANCE, abs_tol=TIE_TOLERANCE)


@dataclass
class SearchState:
    """Everything needed to continue a search exactly where it stopped."""

    labels: Labels
    pinned: dict[int, int]
    iteration: int
    order: list[int]
    rng_state: Any
    chain: int = 0  # which restart this is (0: the first; each chain has its own random stream)

    def to_dict(self) -> dict[str, Any]:
        version, internal, gauss = self.rng_state
        return {
            "labels": {str(k): v for k, v in self.labels.items()},
            "pinned": {str(k): v for k, v in self.pinned.items()},
            "iteration": self.iteration,
            "order": self.order,
            "rng_state": [version, list(internal), gauss],
            "chain": self.chain,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchState:
        version, internal, gauss = data["rng_state"]
        return cls(
            labels={int(k): int(v) for k, v in data["labels"].items()},
            pinned={int(k): int(v) for k, v in data["pinned"].items()},
            iteration=int(data["iteration"]),
            order=[int(i) for i in data["order"]],
            rng_state=(version, tuple(internal), gauss),
            chain=int(data.get("chain", 0)),
        )


@dataclass(frozen=True)
class StepResult:
    """What one iteration did. `changed` maps idx -> (old, new) for every label the accepted step set.

    `move`: "flip" (Algorithm 1's single-example proposal), "swap" (the balance-keeping move: `proposed`
    goes 1 -> 0 and `partner` 0 -> 1) or "complete" (the completion phase; no temperature)."""

    iteration: int
    temperature: float | None
    proposed: int | None
    old_label: int | None
    new_label: int | None
    delta: float
    accepted: bool
    skipped: bool
    evaluation: Evaluation
    changed: dict[int, tuple[int | None, int]] = field(default_factory=dict)
    fix_rounds: int = 0
    move: str = "flip"
    partner: int | None = None


def chain_rng(seed: int, chain: int) -> random.Random:
    """The random stream of restart `chain`: chain 0 is the run's seed itself (a one-chain run is unchanged),
    the others are derived from it, so every chain is reproducible from the run's seed."""
    return random.Random(seed if chain == 0 else f"{seed}-chain-{chain}")


class Annealer:
    """Searches labels maximising U(D) over `examples`; the model is reached only through `scorer`."""

    def __init__(
        self,
        examples: Sequence[Example],
        scorer: Scorer,
        config: SearchConfig,
        *,
        rules: Sequence[str] = (),
        state: SearchState | None = None,
        chain: int = 0,
    ) -> None:
        if len({e.idx for e in examples}) != len(examples):
            raise ValueError("example ids must be unique")
        self.examples = {e.idx: e for e in examples}
        self.config = config = config.resolved(len(examples))
        self.groups = group_members(examples)
        rules = check_rules(rules)
        if state is None:  # every chain shares the context order, so their U values are comparable
            order = shuffled_order(list(self.examples), config.seed)
            state = SearchState({}, {}, 0, order, chain_rng(config.seed, chain).getstate(), chain)
        self.state = state
        self.rng = random.Random()
        self.rng.setstate(state.rng_state)
        self.objective = Objective(scorer, config, order=state.order, groups=self.groups, rules=rules)
        self.rules = rules
        self._current: Evaluation | None = None

    # -- state -------------------------------------------------------------------------------------
    @property
    def labels(self) -> Labels:
        return self.state.labels

    @property
    def done(self) -> bool:
        return self.state.iteration >= self.config.iterations

    def snapshot(self) -> SearchState:
        """A copy of the state for checkpointing (the live one keeps changing)."""
        s = self.state
        return SearchState(
            dict(s.labels), dict(s.pinned), s.iteration, list(s.order), self.rng.getstate(), s.chain
        )

    def current(self) -> Evaluation:
        if self._current is None:
            self._current = self.objective.evaluate(self.labels)
        return self._current

    @property
    def needs_initialization(self) -> bool:
        """The one home of the decision: before the first iteration, with no label the search chose (pins
        are human context, not the K random labels of Algorithm 1)."""
        return self.state.iteration == 0 and set(self.labels) <= set(self.state.pinned)

    def pin(self, idx: int, label: int) -> None:
        """A human override: fixed context that neither the search nor ConsistencyFix will change."""
        if idx not in self.examples or label not in (0, 1):
            raise ValueError(f"cannot pin example {idx} to {label!r}")
        self.state.pinned[idx] = label
        self.state.labels[idx] = label
        self._current = None

    def unpin(self, idx: int) -> None:
        """The example keeps its label (so U is unchanged) but the search may change it again."""
        self.state.pinned.pop(idx, None)

    def unlabel(self, idx: int) -> None:
        """Undo back to unlabeled: the example loses its label and pin (the completion phase may label it)."""
        self.state.pinned.pop(idx, None)
        if self.state.labels.pop(idx, None) is not None:
            self._current = None

    # -- Algorithm 1 -------------------------------------------------------------------------------
    def initialize(self) -> Evaluation:
        """Label K unpinned examples, then ConsistencyFix: K random ones with balanced random labels (the
        paper), or with init "zero_shot" the K whose zero-shot answer is most confident, with that answer."""
        free = [i for i in self.state.order if i not in self.labels]
        k = min(self.config.k_init, len(free))
        if self.config.init == "zero_shot":
            lo = zero_shot_logodds(self.objective.scorer, sorted(free), calibrate=self.config.calibrate)
            chosen = sorted(lo, key=lambda i: (-abs(lo[i]), i))[:k]
            values = [1 if lo[i] >= 0 else 0 for i in chosen]
        else:
            chosen = self.rng.sample(sorted(free), k)
            values = [1] * (k // 2) + [0] * (k - k // 2)
            self.rng.shuffle(values)
        self.state.labels.update(zip(chosen, values))
        labels, evaluation, _ = self.consistency_fix(dict(self.labels), None)
        self.state.labels, self._current = labels, evaluation
        return evaluation

    def _sampling_weights(self, candidates: list[int]) -> list[float]:
        labeled_groups = {self.examples[i].group for i in self.labels} - {None}
        return [
            self.config.group_weight
            if i not in self.labels and self.examples[i].group in labeled_groups
            else 1.0
            for i in candidates
        ]

    def step(self) -> StepResult:
        """One iteration: sample, propose the argmax label, ConsistencyFix, accept by Metropolis."""
        if self.needs_initialization:
            self.initialize()
        current = self.current()
        self.state.iteration += 1
        n = self.state.iteration
        c = self.config
        t = temperature(c.schedule, n, t0=c.t0, t_min=c.t_min, beta=c.beta)
        candidates = [i for i in self.state.order if i not in self.state.pinned]
        if not candidates:
            return StepResult(n, t, None, None, None, 0.0, False, True, current)
        if c.swap_prob > 0 and self.rng.random() < c.swap_prob:  # drawn only when swaps are on
            pair = self._swap_pair()
            if pair is not None:
                one, zero = pair
                proposal = {**self.labels, one: 0, zero: 1}
                return self._decide(n, t, current, proposal, one, 1, 0, move="swap", partner=zero)
        i = self.rng.choices(candidates, weights=self._sampling_weights(candidates))[0]
        old = self.labels.get(i)
        lo = current.logodds[i] if i in current.logodds else self.objective.logodds(self.labels, [i])[i]
        new = self._argmax_label(lo)
        if new == old:
            return StepResult(n, t, i, old, new, 0.0, False, True, current)
        return self._decide(n, t, current, {**self.labels, i: new}, i, old, new)

    def _decide(
        self, n: int, t: float, current: Evaluation, proposal: Labels, i: int, old: int | None, new: int,
        *, move: str = "flip", partner: int | None = None,
    ) -> StepResult:  # fmt: skip
        """ConsistencyFix the proposal, then the Metropolis rule: accept if delta > 0, else w.p. exp(delta/T)."""
        trial, evaluation, rounds = self.consistency_fix(proposal, None)
        delta = evaluation.U - current.U
        accepted = delta > 0 or self.rng.random() < acceptance_probability(delta, t)
        changed: dict[int, tuple[int | None, int]] = {}
        if accepted:
            changed = self._changes(trial)
            self.state.labels, self._current = trial, evaluation
        return StepResult(
            n, t, i, old, new, delta, accepted, False, self.current(), changed, rounds, move, partner
        )

    def _changes(self, trial: Labels) -> dict[int, tuple[int | None, int]]:
        return {j: (self.labels.get(j), y) for j, y in trial.items() if self.labels.get(j) != y}

    def _swap_pair(self) -> tuple[int, int] | None:
        """One unpinned example labeled 1 and one labeled 0, each drawn uniformly; None if a class is empty."""
        free = [i for i in self.state.order if i in self.labels and i not in self.state.pinned]
        ones = [i for i in free if self.labels[i] == 1]
        zeros = [i for i in free if self.labels[i] == 0]
        if not ones or not zeros:
            return None
        return self.rng.choice(ones), self.rng.choice(zeros)

    # -- completion phase (our addition) -----------------------------------------------------------
    @property
    def unlabeled(self) -> list[int]:
        """Examples without a label, in the run's seeded order."""
        return [i for i in self.state.order if i not in self.labels]

    def complete_one(self) -> StepResult | None:
        """Label the first unlabeled example (seeded order) with the label of higher U, then ConsistencyFix.

        Always applied: U decides the label, so the rules, the proportion rule and the pins (which the fix
        never changes) hold as in the search. None once every example is labeled."""
        todo = self.unlabeled
        if not todo:
            return None
        current = self.current()
        self.state.iteration += 1
        i = todo[0]
        options = [({**self.labels, i: y}, self.objective.evaluate({**self.labels, i: y})) for y in (1, 0)]
        (one, u1), (zero, u0) = options
        if _tied(u1.U, u0.U):
            chosen = options[self.rng.randint(0, 1)]
        else:
            chosen = options[0] if u1.U > u0.U else options[1]
        trial, evaluation, rounds = self.consistency_fix(*chosen)
        changed = self._changes(trial)
        self.state.labels, self._current = trial, evaluation
        return StepResult(
            self.state.iteration, None, i, None, chosen[0][i], evaluation.U - current.U, True, False,
            evaluation, changed, rounds, "complete",
        )  # fmt: skip

    def _argmax_label(self, logodds: float) -> int:
        """argmax_y P(y | x, D minus x); a tie (|log-odds| <= TIE_TOLERANCE) is broken by the seeded RNG,
        drawn only then."""
        preferred = preferred_label(logodds)
        return self.rng.randint(0, 1) if preferred is None else preferred

    # -- Algorithm 2 -------------------------------------------------------------------------------
    def consistency_fix(
        self, labels: Labels, evaluation: Evaluation | None
    ) -> tuple[Labels, Evaluation, int]:
        """Up to M rounds: pick a violation, try every consistent option, keep the best if it beats U.

        Works on copies; the caller's dict and the search state are never mutated.
        """
        labels = dict(labels)
        if evaluation is None:
            evaluation = self.objective.evaluate(labels)
        rounds = 0
        for rounds in range(1, self.config.fix_rounds + 1):  # noqa: B007
            if not evaluation.violations:
                return labels, evaluation, rounds - 1
            violation = self.rng.choice(evaluation.violations)
            options = consistent_options(
                violation, self.groups, self.examples, labels, self.rules, self.state.pinned
            )
            trials = [(t, self.objective.evaluate(t)) for t in ({**labels, **o} for o in options)]
            best = self._best(trials, evaluation.U)
            if best is not None:
                labels, evaluation = best
        return labels, evaluation, rounds

    def _best(
        self, trials: list[tuple[Labels, Evaluation]], current_u: float
    ) -> tuple[Labels, Evaluation] | None:
        """The option with the highest U if it beats `current_u`; equal-U options are drawn by the seeded
        RNG (only when there is such a tie), never taken by their position in the list."""
        improving = [t for t in trials if t[1].U > current_u]
        if not improving:
            return None
        top = max(e.U for _, e in improving)
        tied = [t for t in improving if _tied(t[1].U, top)]
        return tied[0] if len(tied) == 1 else self.rng.choice(tied)
