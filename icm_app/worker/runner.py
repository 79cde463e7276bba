"""The search loop that connects the pure-Python annealer to the store and a real scorer.

Each iteration is committed (event, labels, checkpoint) before the next starts; overrides and
pause/stop commands are read from the store between iterations, so any process may send them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.annealing import Annealer, SearchState, StepResult
from ..core.config import SearchConfig
from ..core.types import Example, Scorer
from ..io.loaders import Dataset
from ..scoring.models import ScorerConfig, model_label
from ..scoring.openai_backend import ServerUnavailableError
from ..store.sqlite_store import Store
from ..tasks.presets import TaskSpec


@dataclass
class RunSummary:
    run_id: str
    status: str
    iterations: int
    n_examples: int
    n_labeled: int
    U: float
    P: float
    I: int
    gold_agreement: float | None
    seconds: float
    tokens: int


def create_run(
    store: Store,
    dataset: Dataset,
    task: TaskSpec,
    search: SearchConfig,
    scorer: ScorerConfig,
    *,
    data_source: str,
    name: str = "",
) -> str:
    """Store a new run: full resolved config, examples and (apart from them) gold labels."""
    gold = dataset.gold or {}
    return store.create_run(
        name=name or f"{task.name} on {data_source}",
        task=task.to_dict(),
        search=search.to_dict(),
        scorer=scorer.to_dict(),
        data_source=data_source,
        model=model_label(scorer),
        examples=[
            {"idx": e.idx, "fields": dict(e.fields), "group": e.group, "key": e.key,
             "gold": gold.get(e.idx), "row": dataset.rows[e.idx]}
            for e in dataset.examples
        ],
    )  # fmt: skip


def stored_examples(store: Store, run_id: str) -> tuple[list[Example], dict[int, int]]:
    """The run's examples for the search, and its gold labels kept apart."""
    rows = store.examples(run_id)
    examples = [Example(r["idx"], r["fields"], r["group"], r["key"]) for r in rows]
    gold = {r["idx"]: r["gold"] for r in rows if r["gold"] is not None}
    return examples, gold


def gold_agreement(labels: dict[int, int], gold: dict[int, int]) -> float | None:
    """Share of labeled examples whose label equals gold; evaluation only, never fed to the search."""
    both = [i for i in labels if i in gold]
    return sum(labels[i] == gold[i] for i in both) / len(both) if both else None


def _tokens(scorer: Scorer) -> int:
    return int(getattr(getattr(scorer, "backend", scorer), "tokens_processed", 0))


class Runner:
    """Drives one stored run to completion (or pause/stop), committing every iteration."""

    def __init__(self, store: Store, run_id: str, scorer: Scorer) -> None:
        self.store, self.run_id, self.scorer = store, run_id, scorer
        info = store.run(run_id)
        self.run_id = info.id
        self.config = SearchConfig.from_dict(info.search)
        self.task = TaskSpec.from_dict(info.task)
        self.examples, self.gold = stored_examples(store, self.run_id)
        saved = store.checkpoint(self.run_id)
        state = SearchState.from_dict(saved) if saved else None
        self.annealer = Annealer(self.examples, scorer, self.config, rules=self.task.rules, state=state)
        self.message = ""
        self._held: list[int] = []  # overrides pinned in memory, marked applied by the next checkpoint

    def _apply_overrides(self) -> None:
        pending = self.store.pending_overrides(self.run_id)
        for o in pending:
            if o["new_label"] is None:
                self.annealer.unpin(o["idx"])
            else:
                self.annealer.pin(o["idx"], o["new_label"])
        self._held = [o["id"] for o in pending]

    def _record(self, result: StepResult | None, tokens: int, seconds: float) -> None:
        a = self.annealer
        ev = a.current()
        labels = a.labels
        event: dict[str, Any] = {
            **ev.terms(), "I": ev.I, "iteration": a.state.iteration, "n_labeled": len(labels),
            "gold_agreement": gold_agreement(labels, self.gold), "tokens": tokens, "seconds": seconds,
            "accepted": 1, "skipped": 0, "delta": 0.0, "changed": "[]",
        }  # fmt: skip
        changed: dict[int, tuple[int | None, int]] = {i: (None, y) for i, y in labels.items()}
        if result is not None:
            changed = result.changed
            event.update(
                temperature=result.temperature, delta=result.delta, accepted=int(result.accepted),
                skipped=int(result.skipped), proposed=result.proposed, old_label=result.old_label,
                new_label=result.new_label, fix_rounds=result.fix_rounds,
                changed=str(sorted(changed)),
            )  # fmt: skip
        self.store.record_step(self.run_id, event, a.snapshot().to_dict(), dict(ev.logodds), changed,
                               applied_overrides=self._held)  # fmt: skip
        self._held = []

    def run(self, *, on_step: Callable[[dict[str, Any]], None] | None = None) -> RunSummary:
        """Iterate until the configured iterations are done or a pause/stop command arrives."""
        start, tokens0 = time.perf_counter(), _tokens(self.scorer)
        self.store.set_status(self.run_id, "running")
        try:
            status = self._loop(on_step)
        except ServerUnavailableError as exc:  # nothing of the failed iteration was committed
            self.store.set_status(self.run_id, "paused", str(exc))
            status = "paused"
            self.message = str(exc)
        except BaseException as exc:
            self.store.set_status(
                self.run_id, "failed" if isinstance(exc, Exception) else "stopped", str(exc)
            )
            raise
        if not self.message:
            self.store.set_status(self.run_id, status)
        events = self.store.events(self.run_id)
        last = events[-1] if events else {}
        labels = {i: v["label"] for i, v in self.store.labels(self.run_id).items()}
        return RunSummary(
            run_id=self.run_id, status=status, iterations=last.get("iteration", 0),
            n_examples=len(self.examples), n_labeled=len(labels), U=last.get("U", math.nan),
            P=last.get("P", math.nan), I=last.get("I", 0), gold_agreement=gold_agreement(labels, self.gold),
            seconds=time.perf_counter() - start, tokens=_tokens(self.scorer) - tokens0,
        )  # fmt: skip

    def _loop(self, on_step: Callable[[dict[str, Any]], None] | None) -> str:
        a = self.annealer
        self._apply_overrides()
        if a.needs_initialization:  # decided by the annealer alone, so step() and the runner agree
            t0, k0 = time.perf_counter(), _tokens(self.scorer)
            a.initialize()
            self._record(None, _tokens(self.scorer) - k0, time.perf_counter() - t0)
        while not a.done:
            commands = self.store.take_commands(self.run_id)
            if "stop" in commands:
                return "stopped"
            if "pause" in commands:
                return "paused"
            self._apply_overrides()
            t0, k0 = time.perf_counter(), _tokens(self.scorer)
            result = a.step()
            self._record(result, _tokens(self.scorer) - k0, time.perf_counter() - t0)
            if on_step:
                ev = a.current()
                on_step({"iteration": a.state.iteration, "U": ev.U, "I": ev.I, "n_labeled": len(a.labels),
                         "gold_agreement": gold_agreement(a.labels, self.gold), "accepted": result.accepted})  # fmt: skip
        return "finished"
