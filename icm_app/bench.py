"""`icm bench`: one search trajectory scored by several scoring modes side by side, against a reference.

The first mode drives a real search and every call it makes to the objective (U evaluations and proposal
queries, in order) is recorded; every other mode, and the naive reference, then replays exactly those calls
in the same process on the same model, so cross-iteration caches work as they would in a run. Printed per
mode: model tokens, wall time, forward calls per evaluation, tokens/s, peak memory, and the largest |ΔU|
against a naive float32 reference (a float32 copy of the model when the benched dtype is lower).
"""

from __future__ import annotations

import contextlib
import copy
import random
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .core.annealing import Annealer
from .core.config import SearchConfig
from .core.objective import Evaluation, Objective
from .core.types import Labels
from .io.loaders import load_dataset
from .scoring.models import ScorerConfig, load_model, resolve_scoring
from .scoring.prompts import PromptScorer
from .scoring.transformers_backend import TransformersBackend
from .tasks.presets import TaskSpec

Call = tuple[Labels, list[int] | None]  # (labels, None) is a U evaluation; (labels, targets) a proposal


@dataclass
class PhaseResult:
    mode: str
    tokens: int
    seconds: float
    forward_calls: int
    peak_mb: float  # peak GPU memory on cuda, else peak process RSS
    us: dict[int, float]  # call index -> U, for the evaluations this mode ran
    extrapolated: bool = False
    du_fp32: float | None = None  # max |U - U_fp32 naive| over the reference evaluations


@dataclass
class BenchReport:
    n_examples: int
    iterations: int
    evaluations: int
    k_init: int
    device: str
    dtype: str
    phases: list[PhaseResult] = field(default_factory=list)
    reference: str = ""  # what |ΔU| is measured against

    def table(self) -> str:
        width = 16
        head = f"{'':24s}" + "".join(f"{p.mode:>{width}s}" for p in self.phases)
        mem = "peak GPU memory (MB)" if self.device == "cuda" else "peak RSS (MB)"

        def row(name: str, cell: Callable[[PhaseResult], str]) -> str:
            return f"{name:24s}" + "".join(f"{cell(p):>{width}s}" for p in self.phases)

        def mark(p: PhaseResult) -> str:
            return "~" if p.extrapolated else ""

        evals = max(self.evaluations, 1)
        lines = [
            f"examples {self.n_examples}, labeled at start {self.k_init}, iterations {self.iterations}, "
            f"U evaluations {self.evaluations}, device {self.device}, dtype {self.dtype}",
            head,
            row("model tokens", lambda p: f"{p.tokens:,}"),
            row("wall time (s)", lambda p: f"{mark(p)}{p.seconds:.2f}"),
            row("s per evaluation", lambda p: f"{mark(p)}{p.seconds / evals:.3f}"),
            row("forward calls", lambda p: f"{p.forward_calls:,}" + (" (run)" if p.extrapolated else "")),
            row("calls per evaluation", lambda p: "" if p.extrapolated else f"{p.forward_calls / evals:.1f}"),
            row("tokens/s", lambda p: f"{p.tokens / max(p.seconds, 1e-9):,.0f}"),
            row("speed-up vs naive", lambda p: f"{mark(p)}{self.naive.seconds / max(p.seconds, 1e-9):.1f}x"),
            row(mem, lambda p: f"{p.peak_mb:,.0f}"),
            row("max |U - U_ref|", lambda p: "" if p.du_fp32 is None else f"{p.du_fp32:.2e}"),
            f"U_ref: {self.reference}",
        ]
        if self.naive.extrapolated:
            lines.append(
                "naive: some evaluations run, the other tokens counted exactly (not run) and their time "
                "extrapolated at the measured naive tokens/s (marked ~)"
            )
        return "\n".join(lines)

    @property
    def naive(self) -> PhaseResult:
        return next(p for p in self.phases if p.mode == "naive")

    def phase(self, mode: str) -> PhaseResult:
        return next(p for p in self.phases if p.mode == mode)


def _traced(objective: Objective, calls: list[Call], us: dict[int, float]) -> None:
    """Record every evaluation and every stand-alone proposal query the search makes, in order."""
    evaluate, logodds = objective.evaluate, objective.logodds
    inside = [False]

    def traced_evaluate(labels: Labels) -> Evaluation:
        inside[0] = True
        try:
            result = evaluate(labels)
        finally:
            inside[0] = False
        us[len(calls)] = result.U
        calls.append((dict(labels), None))
        return result

    def traced_logodds(labels: Labels, targets: Any) -> dict[int, float]:
        if not inside[0]:
            calls.append((dict(labels), list(targets)))
        return logodds(labels, targets)

    objective.evaluate, objective.logodds = traced_evaluate, traced_logodds  # type: ignore[method-assign]


class _Memory:
    """Peak memory of one phase: the GPU's allocator on cuda, else the process's peak RSS."""

    def __init__(self, device: str) -> None:
        self.cuda = device == "cuda"

    def start(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def peak_mb(self) -> float:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_bench(
    data: str,
    task: TaskSpec,
    *,
    n: int = 64,
    iterations: int = 10,
    seed: int = 0,
    scorer: ScorerConfig | None = None,
    modes: tuple[str, ...] = (),
    naive_sample: int | None = None,
    k_init: int | None = None,
    loaded: tuple[Any, Any] | None = None,
    reference: tuple[Any, Any] | None = None,
    progress: Any = print,
) -> BenchReport:
    """Search `iterations` steps with the first of `modes`, replay the trajectory with the others and naive.

    `loaded`/`reference`: an already loaded (model, tokenizer), and a float32 copy for |ΔU| (loaded from
    `scorer` when the benched dtype is lower and no copy is given).
    """
    scorer = scorer or ScorerConfig()
    dataset = load_dataset(data, task, limit=n)
    model, tokenizer = loaded or load_model(scorer)
    device, dtype = next(model.parameters()).device.type, next(model.parameters()).dtype
    modes = tuple(dict.fromkeys(resolve_scoring(m, model) for m in modes or (scorer.scoring,)))
    config = SearchConfig.from_dict(
        {**SearchConfig().to_dict(), **task.search_overrides, "iterations": iterations, "seed": seed}
        | ({"k_init": k_init} if k_init else {})
    )
    memory = _Memory(device)

    def backend(mode: str, m: Any = model) -> TransformersBackend:
        return TransformersBackend(m, tokenizer, task.label_words, mode=mode, cache_mb=scorer.cache_mb,
                                   tree_tokens=scorer.tree_tokens)  # fmt: skip

    lead = backend(modes[0])
    annealer = Annealer(
        dataset.examples, PromptScorer(dataset.examples, task, lead), config, rules=task.rules
    )
    calls: list[Call] = []
    lead_us: dict[int, float] = {}
    _traced(annealer.objective, calls, lead_us)
    memory.start()
    start = time.perf_counter()
    annealer.initialize()
    while not annealer.done:
        annealer.step()
        progress(
            f"{modes[0]}: iteration {annealer.state.iteration}/{iterations}, {lead.tokens_processed:,} tokens"
        )
    _sync(device)
    phases = [PhaseResult(modes[0], lead.tokens_processed, time.perf_counter() - start, lead.forward_calls,
                          memory.peak_mb(), lead_us)]  # fmt: skip

    def objective_for(be: TransformersBackend) -> Objective:
        return Objective(PromptScorer(dataset.examples, task, be), config,
                         order=annealer.state.order, groups=annealer.groups, rules=annealer.rules)  # fmt: skip

    evaluations = [k for k, (_, targets) in enumerate(calls) if targets is None]
    chosen = _sample(evaluations, naive_sample, seed)
    for mode in [m for m in modes[1:] if m != "naive"] + ["naive"] * (modes[0] != "naive"):
        be = backend(mode)
        memory.start()
        phases.append(
            _replay(mode, be, objective_for(be), calls, chosen if mode == "naive" else None, progress)
        )
        phases[-1].peak_mb = memory.peak_mb()

    if dtype == _float32():
        ref_us, ref_name = phases[-1].us, "naive scoring of the same model in float32 (the naive column)"
    elif not chosen:
        ref_us, ref_name = {}, "none (no evaluation was recomputed naively)"
    else:
        if reference:
            ref_model = reference[0]
        elif loaded:  # a float32 copy of exactly this model, not whatever `scorer` would load
            ref_model = copy.deepcopy(model).float()
        else:
            ref_model = load_model(ScorerConfig(**{**scorer.to_dict(), "dtype": "float32"}))[0]
        ref_obj = objective_for(backend("naive", ref_model))
        with _eager_attention(ref_model):
            ref_us = {k: ref_obj.evaluate(calls[k][0]).U for k in sorted(chosen)}
        ref_name = (
            f"naive scoring (eager attention) of a float32 copy of the model, {len(ref_us)} evaluations"
        )
    for p in phases:
        shared = [k for k in ref_us if k in p.us]
        p.du_fp32 = max((abs(p.us[k] - ref_us[k]) for k in shared), default=None)
    labeled0 = min(config.k_init, len(dataset.examples))
    return BenchReport(len(dataset.examples), iterations, len(evaluations), labeled0, device,
                       str(dtype).removeprefix("torch."), phases, ref_name)  # fmt: skip


def _replay(
    mode: str,
    be: TransformersBackend,
    objective: Objective,
    calls: list[Call],
    only: set[int] | None,
    progress: Any,
) -> PhaseResult:
    """Make the recorded calls again; with `only`, run just those evaluations and count the rest's tokens
    (proposals too, unless every evaluation runs)."""
    scorer: Any = objective.scorer
    run_all = only is None or len(only) == sum(1 for _, t in calls if t is None)
    us: dict[int, float] = {}
    counted = 0
    start = time.perf_counter()
    for k, (labels, targets) in enumerate(calls):
        if targets is None and (only is None or k in only):
            us[k] = objective.evaluate(labels).U
            progress(f"{mode}: evaluation {len(us)}, {be.tokens_processed:,} tokens")
        elif targets is not None and run_all:
            objective.logodds(labels, targets)
        else:
            queries = objective.queries(labels, sorted(labels) if targets is None else targets)
            counted += be.naive_tokens([scorer.prompt(q) for q in queries])
    _sync(be.device.type)
    seconds = time.perf_counter() - start
    ran = be.tokens_processed
    if counted:  # the rest at the measured speed (unknown if nothing ran); marked as extrapolated
        seconds = seconds * (ran + counted) / ran if ran else float("nan")
    return PhaseResult(mode, ran + counted, seconds, be.forward_calls, 0.0, us, extrapolated=bool(counted))


@contextlib.contextmanager
def _eager_attention(model: Any) -> Iterator[None]:
    """The reference runs the model's plain eager attention: on one H100 (transformers 5.17) SDPA without
    an explicit mask gave Gemma-3 log-odds 0.37 away from eager on prompts longer than its sliding window,
    while the tree and prefix paths matched eager to 7e-6 (docs/performance.md)."""
    before = getattr(model.config, "_attn_implementation", None)
    switch = getattr(model, "set_attn_implementation", None)
    if switch is None or before is None:
        yield
        return
    switch("eager")
    try:
        yield
    finally:
        switch(before)


def _sample(evaluations: list[int], k: int | None, seed: int) -> set[int]:
    """Which evaluations the naive backend recomputes: all, or a seeded random k of them."""
    if k is None or k >= len(evaluations):
        return set(evaluations)
    return set(random.Random(seed).sample(evaluations, k))


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _float32() -> Any:
    import torch

    return torch.float32
