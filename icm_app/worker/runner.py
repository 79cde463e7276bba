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
from ..core.overrides import fold_override
from ..core.types import Scorer
from ..errors import ServerUnavailableError
from ..evaluation.baselines import tokens_of, zero_shot_check
from ..evaluation.diagnosis import diagnose
from ..scoring.bundled import Report
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
    diagnosis: str | None = None  # "search or objective?", when the run finished


class StopRequested(Exception):
    """A stop command arrived while the worker was starting (loading or converting the model)."""


def phase_reporter(store: Store, run_id: str, echo: Report, *, every: float = 1.0) -> Report:
    """A `bundled.Report` that shows a starting worker's phase in the store (for the Run page, at most one
    write per `every` seconds within a phase) and in the worker's log (`echo`); raises StopRequested at the
    first report after a stop command, so Stop works while the model loads."""
    started, last = time.time(), {"phase": None, "at": 0.0}

    def report(phase: str, done: int | None, total: int | None) -> None:
        echo(phase, done, total)
        now = time.monotonic()
        if phase == last["phase"] and now - last["at"] < every and done != total:
            return
        if "stop" in store.pending_commands(run_id):
            raise StopRequested(phase)
        last.update(phase=phase, at=now)
        store.set_phase(run_id, {"text": phase, "done": done, "total": total, "started": started})

    return report


def gold_agreement(labels: dict[int, int], gold: dict[int, int]) -> float | None:
    """Share of labeled examples whose label equals gold; evaluation only, never fed to the search."""
    both = [i for i in labels if i in gold]
    return sum(labels[i] == gold[i] for i in both) / len(both) if both else None


def step_reporter(
    progress: Callable[[str], None], prefix: str, every: int = 10
) -> Callable[[dict[str, Any]], None]:
    """An `on_step` that reports every `every`-th iteration in one line, so a search inside a job (a batch,
    the start of a scale job, a sweep's run) is not a silent phase of minutes."""

    def on_step(s: dict[str, Any]) -> None:
        if s["iteration"] % every == 0:
            gold = "" if s["gold_agreement"] is None else f", gold agreement {s['gold_agreement']:.2f}"
            progress(f"{prefix}: iteration {s['iteration']}, U {s['U']:.2f}, I {s['I']}, "
                     f"{s['n_labeled']} labeled{gold}")  # fmt: skip

    return on_step


def chain_agreement(labels: dict[int, dict[str, Any]], chains: list[dict[str, Any]]) -> dict[int, float]:
    """Per example: the share of chains whose final label equals `labels` (the kept chain's)."""
    finals = [{int(i): v["label"] for i, v in c["labels"].items()} for c in chains]
    return {i: sum(f.get(i) == v["label"] for f in finals) / len(finals) for i, v in labels.items()}


class Runner:
    """Drives one stored run to completion (or pause/stop), committing every iteration."""

    def __init__(self, store: Store, run_id: str, scorer: Scorer) -> None:
        self.store, self.run_id, self.scorer = store, run_id, scorer
        info = store.run(run_id)
        self.run_id = info.id
        self.config = SearchConfig.from_dict(info.search)
        self.task = TaskSpec.from_dict(info.task)
        self.examples, self.gold = store.search_examples(self.run_id)
        saved = store.checkpoint(self.run_id)
        state = SearchState.from_dict(saved) if saved else None
        self.annealer = Annealer(self.examples, scorer, self.config, rules=self.task.rules, state=state)
        self.message = ""
        self._held: list[int] = []  # overrides pinned in memory, marked applied by the next checkpoint

    def _apply_overrides(self) -> None:
        pending = self.store.pending_overrides(self.run_id)
        a = self.annealer
        for o in pending:
            idx, before = o["idx"], a.labels.get(o["idx"])
            label, pinned = fold_override(before, idx in a.state.pinned, kind=o.get("kind") or "override",
                                          new_label=o["new_label"], new_pinned=bool(o["pinned"]))  # fmt: skip
            if label is None:
                a.unlabel(idx)
            elif pinned:
                a.pin(idx, label)
            elif label != before:  # an undo to an unpinned label the search had changed
                a.pin(idx, label)
                a.unpin(idx)
            else:
                a.unpin(idx)
        self._held = [o["id"] for o in pending]

    def _record(self, result: StepResult | None, tokens: int, seconds: float) -> None:
        a = self.annealer
        ev = a.current()
        labels = a.labels
        event: dict[str, Any] = {
            **ev.terms(), "I": ev.I, "iteration": a.state.iteration, "n_labeled": len(labels),
            "gold_agreement": gold_agreement(labels, self.gold), "tokens": tokens, "seconds": seconds,
            "accepted": 1, "skipped": 0, "delta": 0.0, "changed": "[]", "chain": a.state.chain,
            "phase": "init",
        }  # fmt: skip
        changed: dict[int, tuple[int | None, int]] = {i: (None, y) for i, y in labels.items()}
        if result is not None:
            changed = result.changed
            event.update(
                temperature=result.temperature, delta=result.delta, accepted=int(result.accepted),
                skipped=int(result.skipped), proposed=result.proposed, old_label=result.old_label,
                new_label=result.new_label, fix_rounds=result.fix_rounds,
                changed=str(sorted(changed)), move=result.move, partner=result.partner,
                phase="complete" if result.move == "complete" else "search",
            )  # fmt: skip
        self.store.record_step(self.run_id, event, a.snapshot().to_dict(), dict(ev.logodds), changed,
                               applied_overrides=self._held)  # fmt: skip
        self._held = []

    def run(self, *, on_step: Callable[[dict[str, Any]], None] | None = None) -> RunSummary:
        """Iterate until the configured iterations are done or a pause/stop command arrives."""
        start, tokens0 = time.perf_counter(), tokens_of(self.scorer)
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
        labels = self.store.current_labels(self.run_id)
        found = self.store.latest_evaluation(self.run_id, "diagnosis") if status == "finished" else None
        return RunSummary(
            run_id=self.run_id, status=status, iterations=last.get("iteration", 0),
            n_examples=len(self.examples), n_labeled=len(labels), U=last.get("U", math.nan),
            P=last.get("P", math.nan), I=last.get("I", 0), gold_agreement=gold_agreement(labels, self.gold),
            seconds=time.perf_counter() - start, tokens=tokens_of(self.scorer) - tokens0,
            diagnosis=found["message"] if found else None,
        )  # fmt: skip

    def _loop(self, on_step: Callable[[dict[str, Any]], None] | None) -> str:
        """Each chain in turn (one unless restarts), each searched then completed; then the best is kept."""
        while True:
            status = self._chain_loop(on_step)
            if status != "finished":
                return status
            self._save_chain()
            finished = {c["chain"] for c in self.store.chains(self.run_id)}
            todo = [r for r in range(self.config.restarts) if r not in finished]
            if not todo:
                break
            self._start_chain(todo[0])
        self._keep_best_chain()
        self._diagnose()
        return "finished"

    def _commanded(self) -> str | None:
        """ "stopped" or "paused" if such a command arrived (stop wins), else None."""
        commands = self.store.take_commands(self.run_id)
        return "stopped" if "stop" in commands else "paused" if "pause" in commands else None

    def _chain_loop(self, on_step: Callable[[dict[str, Any]], None] | None) -> str:
        a = self.annealer
        self._apply_overrides()
        if a.needs_initialization:  # decided by the annealer alone, so step() and the runner agree
            if ended := self._commanded():  # sent while the model loaded: before the first evaluation
                return ended
            t0, k0 = time.perf_counter(), tokens_of(self.scorer)
            a.initialize()
            self._record(None, tokens_of(self.scorer) - k0, time.perf_counter() - t0)
        while not a.done or (self.config.complete and a.unlabeled):
            if ended := self._commanded():
                return ended
            self._apply_overrides()
            t0, k0 = time.perf_counter(), tokens_of(self.scorer)
            result = a.step() if not a.done else a.complete_one()
            if result is None:  # an override labeled the last unlabeled example
                continue
            self._record(result, tokens_of(self.scorer) - k0, time.perf_counter() - t0)
            if on_step:
                ev = a.current()
                on_step({"iteration": a.state.iteration, "U": ev.U, "I": ev.I, "n_labeled": len(a.labels),
                         "gold_agreement": gold_agreement(a.labels, self.gold), "accepted": result.accepted,
                         "chain": a.state.chain, "phase": "complete" if result.move == "complete" else "search"})  # fmt: skip
        return "finished"

    def _diagnose(self) -> None:
        """Search or objective? Stored with the run (gold only evaluates here; the search is over)."""
        labels = self.store.current_labels(self.run_id)
        found = diagnose(self.annealer.objective, labels, self.gold, self.store.chains(self.run_id),
                         iterations=self.config.iterations, n_examples=len(self.examples))  # fmt: skip
        self.store.add_evaluation(self.run_id, "diagnosis", found.to_dict())
        if labels:  # the gold-free warning: does calibrated zero-shot label these examples otherwise?
            self.store.add_evaluation(
                self.run_id, "zero_shot_check", zero_shot_check(self.annealer.objective, labels)
            )

    # -- restarts ----------------------------------------------------------------------------------
    def _save_chain(self) -> None:
        a = self.annealer
        ev = a.current()
        summary = {
            **ev.terms(), "I": ev.I, "iterations": a.state.iteration, "n_labeled": len(a.labels),
            "gold_agreement": gold_agreement(a.labels, self.gold), "state": a.snapshot().to_dict(),
            "labels": {str(i): v for i, v in self.store.labels(self.run_id).items() if i in a.labels},
        }  # fmt: skip
        self.store.save_chain(self.run_id, a.state.chain, ev.U, summary)

    def _start_chain(self, chain: int) -> None:
        """A fresh chain over the same context order with its own random stream; the pins carry over."""
        pins = dict(self.annealer.state.pinned)
        self.store.start_chain(self.run_id, chain)
        self.annealer = Annealer(self.examples, self.scorer, self.config, rules=self.task.rules, chain=chain)
        for idx, label in pins.items():
            self.annealer.pin(idx, label)

    def _keep_best_chain(self) -> None:
        """The chain with the highest U (the lowest index among equals) gives the run's labels; each
        example's agreement is the share of chains giving it the same label."""
        chains = self.store.chains(self.run_id)
        best = max(chains, key=lambda c: (c["U"], -c["chain"]))
        labels = {int(i): v for i, v in best["labels"].items()}
        for idx, label in self.annealer.state.pinned.items():  # a human pin outranks any chain
            labels[idx] = {**labels.get(idx, {"score": None, "flips": 0}), "label": label, "pinned": True}
        agreement = (
            chain_agreement(labels, chains) if len(chains) > 1 else {}
        )  # one chain: nothing to compare
        self.store.keep_chain(self.run_id, best["chain"], labels, best["state"], agreement)
        if best["chain"] != self.annealer.state.chain:
            state = SearchState.from_dict(best["state"])
            self.annealer = Annealer(
                self.examples, self.scorer, self.config, rules=self.task.rules, state=state
            )
