""" "Search or objective?": which limit a run hit, from U of its labels against U of gold on the same
examples, or, without gold, from how far its restart chains agree on U and on the labels.

Gold is read here only to evaluate; nothing in this module feeds the search.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..core.config import default_iterations
from ..core.objective import Objective

U_TOLERANCE = 1.0  # U closer than one rule violation's cost counts as equal
AGREEMENT_THRESHOLD = 0.9  # chains whose labels agree less than this on average disagree

VERDICTS = {
    "search": "the search stopped short",
    "objective": "the objective is the limit",
    "gold": "the labels are gold's",
    "flat": "the objective is flat",
    "converged": "the chains agree",
    "one_chain": "one chain, no gold: cannot tell",
}


@dataclass(frozen=True)
class Diagnosis:
    """A verdict (a key of VERDICTS), the sentence shown to the researcher, and the numbers behind it."""

    verdict: str
    message: str
    run_u: float
    gold_u: float | None = None
    n_compared: int = 0
    gold_agreement: float | None = None
    chains: int = 1
    u_spread: float | None = None
    label_agreement: float | None = None

    @property
    def title(self) -> str:
        return VERDICTS[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "title": self.title}


def budget_note(iterations: int | None, n_examples: int) -> str:
    """What the automatic iteration budget would have been, when the run had fewer (else '')."""
    if iterations is None or not n_examples or iterations >= default_iterations(n_examples):
        return ""
    return (f" This run had {iterations} iterations; the automatic budget for {n_examples} examples is "
            f"{default_iterations(n_examples)} (N·H_N: every example proposed about once).")  # fmt: skip


def with_gold(
    objective: Objective, labels: Mapping[int, int], gold: Mapping[int, int], *, budget: str = ""
) -> Diagnosis:
    """Compare U of the run's labels with U of the gold labels on the examples that have both; `budget`
    (budget_note) is added where more iterations are the advice."""
    shared = sorted(i for i in labels if i in gold)
    if not shared:
        raise ValueError("no labeled example has a gold label: nothing to compare")
    run = {i: labels[i] for i in shared}
    ref = {i: gold[i] for i in shared}
    run_u, gold_u = objective.evaluate(run).U, objective.evaluate(ref).U
    agreement = sum(run[i] == ref[i] for i in shared) / len(shared)
    numbers = dict(run_u=run_u, gold_u=gold_u, n_compared=len(shared), gold_agreement=agreement)
    on = f"on the same {len(shared)} examples"
    if run == ref:
        return Diagnosis("gold", f"The run's labels are the gold labels {on} (U = {run_u:.1f}).", **numbers)
    if gold_u > run_u + U_TOLERANCE:
        return Diagnosis(
            "search",
            f"The gold labels score U = {gold_u:.1f} {on}, the run's labels {run_u:.1f} (gold agreement "
            f"{agreement:.0%}): a labeling with higher U exists under this objective. More iterations, "
            "restarts (independent chains) or the balance-keeping swap move can find it." + budget,
            **numbers,
        )
    if (
        gold_u > run_u - U_TOLERANCE
    ):  # equal within one violation's cost: the objective cannot tell them apart
        return Diagnosis(
            "objective",
            f"U = {run_u:.2f} for the run's labels, "
            f"{gold_u:.2f} for the gold labels {on}, within {U_TOLERANCE:g} (gold agreement {agreement:.0%}): "
            "it cannot tell them apart, so more search is not expected to move the labels towards gold. "
            "A larger model or a different framing (prompt, label words, consistency structure) is needed.",
            **numbers,
        )
    return Diagnosis(
        "objective",
        f"It prefers these labels to gold: U = {run_u:.1f} for the run's labels, {gold_u:.1f} for the "
        f"gold labels {on} (gold agreement {agreement:.0%}). More search would not move the labels towards "
        "gold: the model does not separate the concept this way. A larger model or a different framing "
        "(prompt, label words, consistency structure) is needed.",
        **numbers,
    )


def pairwise_agreement(finals: Sequence[Mapping[int, int]]) -> float:
    """Mean over chain pairs of the share of examples (labeled in both) given the same label."""
    shares = []
    for a, b in itertools.combinations(finals, 2):
        both = [i for i in a if i in b]
        shares.append(sum(a[i] == b[i] for i in both) / len(both) if both else 0.0)
    return sum(shares) / len(shares) if shares else 1.0


def across_chains(chains: Sequence[Mapping[str, Any]], *, budget: str = "") -> Diagnosis:
    """Without gold: the restart chains' U spread and label agreement. `chains`: dicts with U and labels
    (idx -> label, or idx -> {"label": ...} as the store keeps them)."""
    us = [float(c["U"]) for c in chains]
    best = max(us) if us else float("nan")
    if len(chains) < 2:
        return Diagnosis(
            "one_chain",
            "Without gold labels, one chain cannot tell the search from the objective: run it again with 3 or "
            "more restarts (independent chains) to compare chains that start apart.",
            run_u=best,
        )
    finals = [
        {int(i): (v["label"] if isinstance(v, Mapping) else int(v)) for i, v in c["labels"].items()}
        for c in chains
    ]
    spread, agreement = max(us) - min(us), pairwise_agreement(finals)
    numbers = dict(run_u=best, chains=len(chains), u_spread=spread, label_agreement=agreement)
    if spread > U_TOLERANCE:
        return Diagnosis(
            "search",
            f"{len(chains)} chains end at U from {min(us):.1f} to {max(us):.1f} (label agreement "
            f"{agreement:.0%}), so one search does not reliably reach the maximum; more iterations or restarts "
            "can raise U." + budget,
            **numbers,
        )
    if agreement < AGREEMENT_THRESHOLD:
        return Diagnosis(
            "flat",
            f"{len(chains)} chains reach the same U (spread {spread:.2f}) with different "
            f"labels (agreement {agreement:.0%}). It does not single out one labeling, so more search will not "
            "settle it; a larger model or a different framing is needed.",
            **numbers,
        )
    return Diagnosis(
        "converged",
        f"{len(chains)} chains reach the same U (spread {spread:.2f}) and the same labels "
        f"(agreement {agreement:.0%}), so the search finds the objective's maximum. Whether that maximum is "
        "the concept cannot be told without gold (see the salience check).",
        **numbers,
    )


def diagnose(
    objective: Objective,
    labels: Mapping[int, int],
    gold: Mapping[int, int] | None,
    chains: Sequence[Mapping[str, Any]] = (),
    *,
    iterations: int | None = None,
    n_examples: int = 0,
) -> Diagnosis:
    """With gold: compare with gold (the chains' spread and agreement added when there are several).
    Without: compare the chains. With `iterations` and `n_examples`, advice to search more says what the
    automatic budget would have been."""
    budget = budget_note(iterations, n_examples)
    if not gold or not any(i in gold for i in labels):
        return across_chains(chains, budget=budget)
    found = with_gold(objective, labels, gold, budget=budget)
    if len(chains) < 2:
        return found
    spread = across_chains(chains)
    return Diagnosis(**{**asdict(found), "chains": spread.chains, "u_spread": spread.u_spread,
                        "label_agreement": spread.label_agreement})  # fmt: skip
