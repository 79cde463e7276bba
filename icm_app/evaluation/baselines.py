"""Is ICM worth it on this data? Simple labelings of the run's own examples, scored side by side with ICM's.

Every baseline asks the run's model, with the run's template and calibration, about the run's examples:
zero-shot (raw and calibrated), few-shot with random labels, bootstrapped few-shot, confidence-threshold
pseudo-labels. Each labeling is scored by agreement with gold (where the file has it), by U under the run's
objective (gold-free: which labeling does the objective prefer?) and by agreement with ICM's labels. Gold
enters only the agreement columns and the model's own ceiling: leave-one-out with gold labels as context.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..core.consistency import decide_by_confidence
from ..core.context import loo_context
from ..core.objective import Objective, zero_shot_logodds
from ..core.predictability import preferred_label
from ..core.types import Labels, Query, Scorer

Context = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class BaselineConfig:
    """Settings of the baselines (simple unsupervised labelings after Shrivastava et al., arXiv 2602.20400)."""

    k: int = field(default=8, metadata={"help": "Demonstrations in a random-label few-shot context."})
    draws: int = field(
        default=5, metadata={"help": "Seeded draws of random-label few-shot (mean and spread)."}
    )
    keep_share: float = field(
        default=0.25,
        metadata={
            "help": "Bootstrapped few-shot: share of the examples labeled per round, most confident first."
        },
    )
    threshold: float = field(
        default=0.75,
        metadata={"help": "Pseudo-labels: keep zero-shot labels whose probability is at least this."},
    )
    max_demos: int = field(
        default=32,
        metadata={"help": "Most demonstrations in a bootstrap or pseudo-label context (the most confident)."},
    )
    seed: int = field(default=0, metadata={"help": "Seed of the few-shot draws."})

    def __post_init__(self) -> None:
        if self.k < 1 or self.draws < 1 or self.max_demos < 1:
            raise ValueError("k, draws and max_demos must be >= 1")
        if not 0 < self.keep_share <= 1:
            raise ValueError("keep_share must be in (0, 1]")
        if not 0.5 <= self.threshold < 1:
            raise ValueError("threshold must be in [0.5, 1)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tokens_of(scorer: Scorer) -> int:
    """Tokens the scorer's model has read so far (0 for scorers that do not count)."""
    return int(getattr(getattr(scorer, "backend", scorer), "tokens_processed", 0))


def predict(
    scorer: Scorer, targets: Sequence[int], context: Callable[[int], Context], *, calibrate: bool
) -> dict[int, float]:
    """Log-odds of label 1 for each target after its context; calibrated by one content-free query per
    distinct context (contextual calibration, as the objective does)."""
    contexts = [context(t) for t in targets]
    queries = [Query(c, t) for c, t in zip(contexts, targets)]
    distinct = list(dict.fromkeys(contexts)) if calibrate and targets else []
    queries += [Query(c, targets[0], content_free=True) for c in distinct]
    scores = scorer.score(queries)
    shift = dict(zip(distinct, scores[len(targets) :]))
    return {t: s - shift.get(c, 0.0) for t, c, s in zip(targets, contexts, scores)}


def argmax(logodds: Mapping[int, float]) -> Labels:
    """The label each log-odds prefers (`preferred_label`, the search's rule); a tie counts as label 1,
    where the search would draw it at random."""
    return {i: 1 if preferred_label(lo) in (1, None) else 0 for i, lo in logodds.items()}


def zero_shot(scorer: Scorer, ids: Sequence[int], *, calibrate: bool) -> dict[int, float]:
    """No demonstrations: the model's prior for each example (the search's zero-shot start uses the same)."""
    return zero_shot_logodds(scorer, sorted(ids), calibrate=calibrate)


def few_shot_random(
    scorer: Scorer, ids: Sequence[int], *, k: int, draw: int, seed: int, calibrate: bool
) -> Labels:
    """k demonstrations drawn at random, each with a random label (an example is never its own
    demonstration); the draw's seed is ``(seed, draw)``."""
    rng = random.Random(f"few-shot-{seed}-{draw}")
    demos = rng.sample(sorted(ids), min(k, len(ids)))
    labeled = tuple((d, rng.randint(0, 1)) for d in demos)
    return argmax(
        predict(scorer, sorted(ids), lambda t: tuple(p for p in labeled if p[0] != t), calibrate=calibrate)
    )


def _context(
    labels: Labels, confidence: Mapping[int, float], order: Sequence[int], cap: int, target: int
) -> Context:
    """The `cap` most confident labeled examples other than `target`, in the run's context order."""
    ranked = sorted((i for i in labels if i != target), key=lambda i: (-abs(confidence[i]), i))[:cap]
    keep = set(ranked)
    return tuple((i, labels[i]) for i in order if i in keep)


def bootstrap(
    scorer: Scorer,
    order: Sequence[int],
    objective: Objective,
    *,
    keep_share: float,
    max_demos: int,
    calibrate: bool,
    first: Mapping[int, float] | None = None,
) -> Labels:
    """Bootstrapped few-shot: label with the labels so far as demonstrations, keep the most confident
    `keep_share` of all examples, repeat until every example is labeled. Within a consistency group the most
    confident member decides (Algorithm 4). `first`: the zero-shot log-odds of round one, when known."""
    labels: Labels = {}
    confidence: dict[int, float] = {}
    step = max(1, math.ceil(keep_share * len(order)))
    while len(labels) < len(order):
        todo = [i for i in order if i not in labels]
        if not labels and first is not None:
            lo = {i: first[i] for i in todo}
        else:
            lo = predict(
                scorer, todo, lambda t: _context(labels, confidence, order, max_demos, t), calibrate=calibrate
            )
        decided = decide_by_confidence(objective.groups, lo, objective.rules, pinned=labels)
        for i in sorted(todo, key=lambda i: (-abs(lo[i]), i))[:step]:
            labels[i], confidence[i] = decided[i], lo[i]
    return labels


def pseudo_labels(
    scorer: Scorer,
    order: Sequence[int],
    first: Mapping[int, float],
    *,
    threshold: float,
    max_demos: int,
    calibrate: bool,
) -> tuple[Labels, int]:
    """Confidence-threshold pseudo-labelling: the zero-shot labels whose probability reaches `threshold`
    (at least two, the most confident) become demonstrations for labeling every example once (never its
    own). Returns the labels and how many pseudo-labels passed."""
    cut = math.log(threshold / (1 - threshold))
    passed = [i for i in order if abs(first[i]) >= cut]
    kept = passed if len(passed) >= 2 else sorted(order, key=lambda i: (-abs(first[i]), i))[:2]
    seeds = {i: 1 if first[i] >= 0 else 0 for i in kept}
    lo = predict(
        scorer, list(order), lambda t: _context(seeds, first, order, max_demos, t), calibrate=calibrate
    )
    return argmax(lo), len(passed)


@dataclass(frozen=True)
class Row:
    """One labeling's scores. Means over draws; `*_std` is the spread across draws (0 for one draw)."""

    method: str
    draws: int
    n_labeled: int
    U: float
    U_std: float
    gold_agreement: float | None
    gold_std: float | None
    icm_agreement: float | None
    share_1: float
    queries: int
    tokens: int
    seconds: float
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def agreement(a: Labels, b: Mapping[int, int]) -> float | None:
    both = [i for i in a if i in b]
    return sum(a[i] == b[i] for i in both) / len(both) if both else None


def _spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def score_row(
    method: str,
    draws: list[Labels],
    objective: Objective,
    *,
    gold: Mapping[int, int],
    icm: Labels,
    cost: tuple[int, int, float],
    note: str = "",
) -> Row:
    """Scores of one labeling (or of each of its draws): U under the run's objective, agreement with gold
    and with ICM. `cost` is (queries, tokens, seconds) spent making the labeling."""
    us = [objective.evaluate(d).U for d in draws]
    golds = [g for g in (agreement(d, gold) for d in draws) if g is not None]
    icms = [a for a in (agreement(d, icm) for d in draws) if a is not None]
    return Row(
        method, len(draws), round(statistics.fmean(len(d) for d in draws)), statistics.fmean(us), _spread(us),
        statistics.fmean(golds) if golds else None, _spread(golds) if golds else None,
        statistics.fmean(icms) if icms and method != "ICM" else None,
        statistics.fmean(sum(d.values()) / len(d) for d in draws if d) if any(draws) else 0.0,
        *cost, note,
    )  # fmt: skip


class _Meter:
    """Queries, tokens and seconds spent by one method."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer, self.queries = scorer, 0

    def score(self, queries: Sequence[Query]) -> list[float]:
        self.queries += len(queries)
        return self.scorer.score(queries)

    def __enter__(self) -> _Meter:
        self.start, self.tokens0, self.queries = time.perf_counter(), tokens_of(self.scorer), 0
        return self

    def __exit__(self, *_exc: object) -> None:
        self.cost = (self.queries, tokens_of(self.scorer) - self.tokens0, time.perf_counter() - self.start)


def compare(
    objective: Objective,
    icm: Labels,
    gold: Mapping[int, int],
    config: BaselineConfig = BaselineConfig(),
    *,
    icm_cost: tuple[int, int, float] = (0, 0, 0.0),
    icm_note: str = "the run's labels",
    progress: Callable[[str], None] = lambda _m: None,
) -> list[Row]:
    """Every baseline on the objective's examples, then ICM's labels, gold and the model's ceiling (the
    last two only where `gold` is given). Rows in a fixed order; the scorer is the objective's."""
    scorer, order, calibrate = objective.scorer, objective.order, objective.config.calibrate
    meter = _Meter(scorer)
    rows: list[Row] = []

    def add(method: str, draws: list[Labels], note: str = "") -> None:
        rows.append(score_row(method, draws, objective, gold=gold, icm=icm, cost=meter.cost, note=note))
        progress(f"{method}: U {rows[-1].U:.2f}" + (f", gold {rows[-1].gold_agreement:.3f}" if gold else ""))

    with meter:
        raw = zero_shot(meter, order, calibrate=False)
    add("zero-shot (raw)", [argmax(raw)])
    with meter:
        calibrated = zero_shot(meter, order, calibrate=True)
    add("zero-shot (calibrated)", [argmax(calibrated)], "content-free query subtracted")
    first = calibrated if calibrate else raw  # the run's own calibration from here on
    with meter:
        few = [few_shot_random(meter, order, k=config.k, draw=r, seed=config.seed, calibrate=calibrate)
               for r in range(config.draws)]  # fmt: skip
    add("few-shot, random labels", few, f"k = {config.k}, {config.draws} seeded draws")
    with meter:
        boot = bootstrap(meter, order, objective, keep_share=config.keep_share, max_demos=config.max_demos,
                         calibrate=calibrate, first=first)  # fmt: skip
    add("bootstrapped few-shot", [boot], f"{config.keep_share:.0%} per round, group rule: Algorithm 4")
    with meter:
        pseudo, passed = pseudo_labels(meter, order, first, threshold=config.threshold,
                                       max_demos=config.max_demos, calibrate=calibrate)  # fmt: skip
    add(
        "confidence-threshold pseudo-labels",
        [pseudo],
        f"{passed} zero-shot labels with P >= {config.threshold}",
    )
    meter.cost = icm_cost
    add("ICM", [dict(icm)], icm_note)
    if gold:
        gold_labels = {i: gold[i] for i in order if i in gold}
        meter.cost = (0, 0, 0.0)
        add("gold", [gold_labels], "the file's labels: U under the run's objective")
        with meter:
            loo = lambda t: loo_context(order, objective.position, gold_labels, t)  # noqa: E731
            ceiling = argmax(predict(meter, sorted(gold_labels), loo, calibrate=calibrate))
        add(
            "ceiling (leave-one-out, gold context)", [ceiling], "the model's own ceiling under this objective"
        )
    return rows


WARN_SHARE = 0.15  # calibrated zero-shot and ICM disagreeing on more than this share of examples: warn


def zero_shot_check(objective: Objective, icm: Labels) -> dict[str, Any]:
    """The gold-free warning: do calibrated zero-shot labels and ICM's disagree on more than WARN_SHARE of
    the examples, and which of the two labelings does the run's objective prefer? Costs one zero-shot pass
    (N + 1 queries with no context) and one evaluation of U."""
    ids = sorted(icm)
    zs = argmax(zero_shot(objective.scorer, ids, calibrate=True))
    differ = sum(zs[i] != icm[i] for i in ids)
    share = differ / len(ids) if ids else 0.0
    u_icm, u_zs = objective.evaluate(icm).U, objective.evaluate(zs).U
    warn = share > WARN_SHARE
    if not warn:
        message = (f"Calibrated zero-shot labels agree with ICM on {len(ids) - differ} of {len(ids)} examples "
                   f"({1 - share:.0%}): asking the model with no demonstrations gives nearly the same labels.")  # fmt: skip
    elif u_icm >= u_zs:
        message = (f"Calibrated zero-shot labels disagree with ICM on {differ} of {len(ids)} examples ({share:.0%}), "
                   f"and the objective prefers ICM's (U {u_icm:.2f} against {u_zs:.2f}): the search found what the "
                   "objective asks for. If the zero-shot labels are the better ones (check a few disagreements on "
                   "Review, or gold on Evaluate), the objective, not the search, is the limit on this data, and a "
                   "trivial baseline beats ICM here.")  # fmt: skip
    else:
        message = (f"Calibrated zero-shot labels disagree with ICM on {differ} of {len(ids)} examples ({share:.0%}), "
                   f"and the objective prefers the zero-shot labels (U {u_zs:.2f} against ICM's {u_icm:.2f}): the "
                   "search stopped short of a labeling it could have had. More iterations or restarts may help.")  # fmt: skip
    return {"warn": warn, "disagree": differ, "n": len(ids), "share": share, "threshold": WARN_SHARE,
            "U_icm": u_icm, "U_zero_shot": u_zs, "prefers": "icm" if u_icm >= u_zs else "zero-shot",
            "message": message, "differ_ids": [i for i in ids if zs[i] != icm[i]]}  # fmt: skip


def table(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The stored result as table rows (CLI, CSV and the Evaluate page): gold columns only with gold."""
    out = []
    for r in result["rows"]:
        row: dict[str, Any] = {"method": r["method"]}
        if result["has_gold"]:
            row["gold agreement"] = None if r["gold_agreement"] is None else round(r["gold_agreement"], 3)
            row["± (draws)"] = (
                round(r["gold_std"], 3) if r["draws"] > 1 and r["gold_std"] is not None else None
            )
        row |= {
            "U (run's objective)": round(r["U"], 2),
            "U ± (draws)": round(r["U_std"], 2) if r["draws"] > 1 else None,
            "agrees with ICM": None if r["icm_agreement"] is None else round(r["icm_agreement"], 3),
            "share of label 1": round(r["share_1"], 3), "labeled": r["n_labeled"], "queries": r["queries"],
            "tokens": r["tokens"], "seconds": round(r["seconds"], 1), "note": r["note"],
        }  # fmt: skip
        out.append(row)
    return out
