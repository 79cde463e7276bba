"""How ICM decides one example: its leave-one-out prompt, the model's answer, its term in P, what U would be
if its label flipped and how likely the search is to accept that flip, and the rules it takes part in.

Every number comes from the core (Objective.evaluate, Annealer.consistency_fix, the schedule and the
acceptance rule), evaluated with the run's real labels and scorer; nothing here recomputes U by itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..core.annealing import Annealer, SearchState, chain_rng
from ..core.config import SearchConfig
from ..core.context import loo_context, shuffled_order
from ..core.objective import Evaluation
from ..core.predictability import P_MODES, log_sigmoid, preferred_label
from ..core.schedules import acceptance_probability, temperature
from ..core.types import Example, Labels, Query, Scorer

# How each P mode aggregates its per-example terms (core/objective.py): the mean divides by the count.
P_AGGREGATION = {"mean_logodds": "mean", "sum_logprob": "sum"}

# The rules in plain words (core/consistency.py), for the page's last step.
RULE_TEXT = {
    "exclusive": "claims of one group with different keys (e.g. different final answers) cannot both be True",
    "equivalent": "claims of one group with the same key (e.g. the same final answer) must share a label",
    "asymmetric": "a comparison and its reverse: exactly one of the two is True",
    "one_of_k": "exactly one claim of the group is True",
}


@dataclass(frozen=True)
class Explanation:
    """One example's evidence under the run's current labels (label 1 = the task's first label word).

    `U`/`terms`: the current labeling. `U_proposal`/`terms_proposal`: this one label changed, nothing else.
    `U_flipped`/`terms_flipped`: after the ConsistencyFix the search applies to every proposal (what the
    search compares); `delta` = U_flipped - U; `acceptance` = min(1, exp(delta / temperature)).
    """

    idx: int
    label: int | None  # current label; None: unlabeled (then the "flip" gives it the model's preferred one)
    new_label: int
    pinned: bool
    label_words: tuple[str, str]
    demonstrations: list[dict[str, Any]]  # [{idx, label, text}] in prompt order; never this example
    query: str  # the last segment of the prompt: this example without its label
    model_logodds: float  # log P(word 1) - log P(word 0) the model gave at the next token
    logodds: float  # what enters P: the same, minus the content-free query's when calibrating
    calibrated: bool
    probabilities: list[float]  # [P(word 1), P(word 0)], renormalised over the two words (sum 1)
    p_mode: str
    n_labeled: int
    p_term: float  # this example's term in P (0 when unlabeled)
    P: float
    alpha: float
    U: float
    terms: dict[str, float]
    U_proposal: float
    terms_proposal: dict[str, float]
    U_flipped: float
    terms_flipped: dict[str, float]
    fix_rounds: int
    fix_changed: list[tuple[int, int | None, int]]  # (idx, label in the proposal, label after the fix)
    delta: float
    schedule: str
    t0: float
    t_min: float
    beta: float
    temperature_iteration: int  # n in T_n: the search's next iteration, or its last once it is over
    search_over: bool
    temperature: float
    acceptance: float
    preferred: int | None  # the label the model prefers (argmax); None on a tie (the search draws one)
    would_propose: bool  # the search proposes the preferred label, never for a pinned example
    swap_prob: float
    group: str | None
    key: str | None
    rules: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def label_probabilities(logodds: float) -> list[float]:
    """[P(word 1), P(word 0)] from log P(word 1) - log P(word 0), the two words renormalised (sum 1)."""
    return [math.exp(log_sigmoid(logodds)), math.exp(log_sigmoid(-logodds))]


def p_term(p_mode: str, label: int, logodds: float, n_labeled: int) -> float:
    """One labeled example's term in P as the core's P mode defines it; the terms of all labeled examples
    sum to P (mean_logodds: signed log-odds / n; sum_logprob: log P(label))."""
    single = P_MODES[p_mode]({0: label}, {0: logodds})
    return single / n_labeled if P_AGGREGATION[p_mode] == "mean" else single


def search_temperature(config: SearchConfig, iteration: int) -> tuple[int, float, bool]:
    """(n, T_n, search over): T at the search's next iteration (iteration + 1), or at its last one once the
    iteration budget is spent (a finished run, or its completion phase, which has no temperature)."""
    total = config.iterations or 0
    over = iteration >= total
    n = max(1, min(iteration + 1, total))
    return n, temperature(config.schedule, n, t0=config.t0, t_min=config.t_min, beta=config.beta), over


def _rules(annealer: Annealer, idx: int, now: Evaluation, after: Evaluation, after_labels: Labels) -> list:
    """The rules `idx` takes part in: its group's partners and the violations it is in now and after."""
    example = annealer.examples[idx]
    members = annealer.groups.get(example.group, []) if example.group is not None else []
    partners = [e for e in members if e.idx != idx]
    if not partners:
        return []

    def involved(ev: Evaluation, rule: str) -> list[list[int]]:
        return [[i for i in v.ids if i != idx] for v in ev.violations if v.rule == rule and idx in v.ids]

    return [
        {"rule": rule, "text": RULE_TEXT[rule], "group": example.group,
         "partners": [{"idx": e.idx, "key": e.key, "label": annealer.labels.get(e.idx),
                       "label_after": after_labels.get(e.idx)} for e in partners],
         "violated_now": involved(now, rule), "violated_after": involved(after, rule)}
        for rule in annealer.rules
    ]  # fmt: skip


def explain_example(
    examples: Sequence[Example],
    scorer: Scorer,
    config: SearchConfig,
    labels: Mapping[int, int],
    idx: int,
    *,
    rules: Sequence[str] = (),
    state: SearchState | None = None,
    label_words: tuple[str, str] = (" True", " False"),
) -> Explanation:
    """Explain example `idx` under `labels` (the run's current ones) with the run's scorer and config.

    `state`: the run's checkpoint (context order, pins, iteration and the random state that ConsistencyFix
    draws from, as the annealer would); without one, a fresh search's order and no pins. The flip is
    mirrored on the annealer itself: the proposal is ConsistencyFix-ed by `Annealer.consistency_fix`, and
    delta, T and the acceptance come from the core's schedule and acceptance rule.
    """
    labels = dict(labels)
    if state is None:
        order = shuffled_order([e.idx for e in examples], config.seed)
        state = SearchState({}, {}, 0, order, chain_rng(config.seed, 0).getstate())
    state = SearchState.from_dict({**state.to_dict(), "labels": {str(k): v for k, v in labels.items()}})
    annealer = Annealer(examples, scorer, config, rules=rules, state=state)
    if idx not in annealer.examples:
        raise ValueError(f"example {idx} is not in this run")
    objective, c = annealer.objective, annealer.config
    now = objective.evaluate(labels)
    context = loo_context(objective.order, objective.position, labels, idx)
    used = now.logodds[idx] if idx in now.logodds else objective.logodds(labels, [idx])[idx]
    model = scorer.score([Query(context, idx)])[0] if c.calibrate else used
    label, pinned = labels.get(idx), idx in state.pinned
    preferred = preferred_label(used)
    new = 1 - label if label is not None else (1 if preferred is None else preferred)
    proposal = {**labels, idx: new}
    raw = objective.evaluate(proposal)
    fixed, after, rounds = annealer.consistency_fix(proposal, raw)
    delta = after.U - now.U
    n, t, over = search_temperature(c, state.iteration)
    segments = scorer.prompt(Query(context, idx)) if hasattr(scorer, "prompt") else None
    demos = [
        {"idx": i, "label": y, "text": segments[k] if segments else f"example {i}: {label_words[1 - y].strip()}\n"}
        for k, (i, y) in enumerate(context)
    ]  # fmt: skip
    example = annealer.examples[idx]
    return Explanation(
        idx=idx, label=label, new_label=new, pinned=pinned, label_words=tuple(label_words),
        demonstrations=demos, query=segments[-1] if segments else f"example {idx}",
        model_logodds=model, logodds=used, calibrated=c.calibrate, probabilities=label_probabilities(model),
        p_mode=c.p_mode, n_labeled=len(labels),
        p_term=0.0 if label is None else p_term(c.p_mode, label, used, len(labels)), P=now.P, alpha=c.alpha,
        U=now.U, terms=now.terms(), U_proposal=raw.U, terms_proposal=raw.terms(),
        U_flipped=after.U, terms_flipped=after.terms(), fix_rounds=rounds,
        fix_changed=[(j, proposal.get(j), y) for j, y in sorted(fixed.items()) if proposal.get(j) != y],
        delta=delta, schedule=c.schedule, t0=c.t0, t_min=c.t_min, beta=c.beta, temperature_iteration=n,
        search_over=over, temperature=t, acceptance=acceptance_probability(delta, t), preferred=preferred,
        would_propose=not pinned and preferred in (None, new), swap_prob=c.swap_prob,
        group=example.group, key=example.key, rules=_rules(annealer, idx, now, after, fixed),
    )  # fmt: skip
