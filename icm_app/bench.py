"""`icm bench`: the same search trajectory scored by the prefix-caching and the naive backend, side by side.

The fast scorer drives a real search and every evaluation it made (label set -> U) is recorded; the naive
scorer then recomputes exactly those evaluations and proposals in the same process. Printed: model tokens,
wall time, their ratios, the largest |U_fast - U_naive|, and peak memory.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from typing import Any

from .core.annealing import Annealer
from .core.config import SearchConfig
from .core.objective import Evaluation, Objective
from .core.types import Labels
from .io.loaders import load_dataset
from .scoring.models import ScorerConfig, load_model
from .scoring.prompts import PromptScorer
from .scoring.transformers_backend import TransformersBackend
from .tasks.presets import TaskSpec


@dataclass
class Trace:
    """What a search asked of its objective: evaluations (labels, U) and proposal queries (labels, targets)."""

    evaluations: list[tuple[Labels, float]] = field(default_factory=list)
    proposals: list[tuple[Labels, list[int]]] = field(default_factory=list)


@dataclass
class PhaseResult:
    mode: str
    tokens: int
    seconds: float
    forward_calls: int
    peak_rss_mb: float
    us: list[float]
    extrapolated: bool = False


@dataclass
class BenchReport:
    n_examples: int
    iterations: int
    evaluations: int
    fast: PhaseResult
    naive: PhaseResult
    max_abs_du: float
    compared: int
    k_init: int = 0

    def table(self) -> str:
        f, n = self.fast, self.naive
        mark = "~" if n.extrapolated else ""
        rows = [
            ("model tokens", f"{n.tokens:,}", f"{f.tokens:,}", f"{n.tokens / max(f.tokens, 1):.1f}x"),
            (
                "wall time (s)",
                mark + f"{n.seconds:.1f}",
                f"{f.seconds:.1f}",
                mark + f"{n.seconds / max(f.seconds, 1e-9):.1f}x",
            ),
            (
                "forward calls",
                f"{n.forward_calls:,}" + (" (run)" if n.extrapolated else ""),
                f"{f.forward_calls:,}",
                "",
            ),
            ("peak RSS (MB)", f"{n.peak_rss_mb:.0f}", f"{f.peak_rss_mb:.0f}", ""),
        ]
        lines = [
            f"examples {self.n_examples}, labeled at start {self.k_init}, iterations {self.iterations}, "
            f"U evaluations {self.evaluations}",
            f"{'':16s}{'naive':>14s}{'prefix':>14s}{'ratio':>10s}",
            *[f"{a:16s}{b:>14s}{c:>14s}{d:>10s}" for a, b, c, d in rows],
            f"max |U_prefix - U_naive| over {self.compared} evaluations recomputed naively: {self.max_abs_du:.2e}",
        ]
        if n.extrapolated:
            lines.append(
                f"naive: {self.compared} of {self.evaluations} evaluations run; the other tokens counted exactly "
                "(not run), their time extrapolated at the measured naive tokens/s (marked ~)"
            )
        return "\n".join(lines)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _traced(objective: Objective, trace: Trace) -> None:
    """Record every evaluation and every stand-alone proposal query the search makes."""
    evaluate, logodds = objective.evaluate, objective.logodds
    inside = [False]

    def traced_evaluate(labels: Labels) -> Evaluation:
        inside[0] = True
        try:
            result = evaluate(labels)
        finally:
            inside[0] = False
        trace.evaluations.append((dict(labels), result.U))
        return result

    def traced_logodds(labels: Labels, targets: Any) -> dict[int, float]:
        if not inside[0]:
            trace.proposals.append((dict(labels), list(targets)))
        return logodds(labels, targets)

    objective.evaluate, objective.logodds = traced_evaluate, traced_logodds  # type: ignore[method-assign]


def run_bench(
    data: str,
    task: TaskSpec,
    *,
    n: int = 64,
    iterations: int = 10,
    seed: int = 0,
    scorer: ScorerConfig | None = None,
    naive_sample: int | None = None,
    k_init: int | None = None,
    progress: Any = print,
) -> BenchReport:
    """Search `iterations` steps with the prefix backend, then recompute its trajectory naively."""
    scorer = scorer or ScorerConfig()
    dataset = load_dataset(data, task, limit=n)
    loaded = load_model(scorer)
    config = SearchConfig.from_dict(
        {**SearchConfig().to_dict(), **task.search_overrides, "iterations": iterations, "seed": seed}
        | ({"k_init": k_init} if k_init else {})
    )

    fast_backend = TransformersBackend(*loaded, task.label_words, mode="prefix", cache_mb=scorer.cache_mb)
    annealer = Annealer(
        dataset.examples, PromptScorer(dataset.examples, task, fast_backend), config, rules=task.rules
    )
    trace = Trace()
    _traced(annealer.objective, trace)
    start = time.perf_counter()
    annealer.initialize()
    while not annealer.done:
        annealer.step()
        progress(
            f"prefix: iteration {annealer.state.iteration}/{iterations}, {fast_backend.tokens_processed:,} tokens"
        )
    fast = PhaseResult("prefix", fast_backend.tokens_processed, time.perf_counter() - start,
                       fast_backend.forward_calls, _peak_rss_mb(), [u for _, u in trace.evaluations])  # fmt: skip

    naive_backend = TransformersBackend(*loaded, task.label_words, mode="naive")
    naive_scorer = PromptScorer(dataset.examples, task, naive_backend)
    naive_obj = Objective(dataset.examples, naive_scorer, config, order=annealer.state.order,
                          groups=annealer.groups, rules=annealer.rules)  # fmt: skip
    chosen = _sample(len(trace.evaluations), naive_sample, seed)
    start, us, pairs, counted = time.perf_counter(), [], [], 0
    for k, (labels, u_fast) in enumerate(trace.evaluations):
        if k in chosen:
            us.append(naive_obj.evaluate(labels).U)
            pairs.append((u_fast, us[-1]))
            progress(
                f"naive: evaluation {len(pairs)}/{len(chosen)}, {naive_backend.tokens_processed:,} tokens"
            )
        else:
            counted += naive_backend.naive_tokens(
                [naive_scorer.prompt(q) for q in naive_obj.queries(labels, sorted(labels))]
            )
    for labels, targets in trace.proposals:
        if chosen == set(range(len(trace.evaluations))):
            naive_obj.logodds(labels, targets)
        else:
            counted += naive_backend.naive_tokens(
                [naive_scorer.prompt(q) for q in naive_obj.queries(labels, targets)]
            )
    seconds = time.perf_counter() - start
    ran = naive_backend.tokens_processed
    if counted:  # the rest at the measured naive speed; marked as extrapolated in the table
        seconds *= (ran + counted) / max(ran, 1)
    naive = PhaseResult("naive", ran + counted, seconds, naive_backend.forward_calls, _peak_rss_mb(), us)
    naive.extrapolated = bool(counted)
    max_du = max((abs(a - b) for a, b in pairs), default=0.0)
    labeled0 = min(config.k_init, len(dataset.examples))
    return BenchReport(
        len(dataset.examples), iterations, len(trace.evaluations), fast, naive, max_du, len(pairs), labeled0
    )


def _sample(n: int, k: int | None, seed: int) -> set[int]:
    """Which evaluations the naive backend recomputes: all, or a seeded random k of them."""
    import random

    if k is None or k >= n:
        return set(range(n))
    return set(random.Random(seed).sample(range(n), k))
