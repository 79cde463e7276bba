"""Scalable ICM (Algorithm 3) as a job in the store: rounds of F fold fine-tunes and relabeling.

The job's labels live in a run of their own (every example, one checkpoint per round: iteration 0 is the
start, iteration r the labels after round r), so Labels, Review, Evaluate and Export read them like any run's
and a researcher's overrides pin labels the next round keeps and trains on. Each fold of each round is a unit
saved to the job as it finishes (its adapter folder, its predictions, its training loss), so after a crash or
a stop `icm scale --resume JOB` continues at the first unfinished fold. Gold labels are only reported.
"""

from __future__ import annotations

import json
import queue
import random
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..core.batches import split_batches
from ..core.config import SearchConfig
from ..core.consistency import decide_by_confidence, group_members
from ..core.folds import ScaleConfig, assign_folds, changed_share, should_stop, training_ids
from ..core.overrides import fold_override
from ..core.types import Dataset, Example, Labels, Scorer
from ..io.loaders import build_dataset
from ..paths import icm_home
from ..scoring.models import ScorerConfig
from ..store.sqlite_store import Store
from ..tasks.presets import TaskSpec
from .runner import Runner, gold_agreement, step_reporter

ScorerFactory = Callable[[list[Example], TaskSpec, ScorerConfig], Scorer]
Progress = Callable[[str], None]


class FoldModel(Protocol):
    """What a round needs from a model: fine-tune on labels (saving an adapter), predict with one."""

    def train(self, ids: Sequence[int], labels: Mapping[int, int], folder: Path,
              progress: Callable[[int, int, float], None]) -> list[float]:  # fmt: skip
        """Fine-tune the base model on these examples' labels, save the adapter in `folder`; the losses."""
        ...

    def predict(self, folder: Path | None, ids: Sequence[int]) -> dict[int, float]:
        """Log-odds of label 1 for each id, zero-shot, from the base model with `folder`'s adapter (None:
        the base model itself)."""
        ...


@dataclass
class ScaleJob:
    id: str
    data_source: str
    run_id: str
    config: dict[str, Any]
    folds: list[list[int]]
    kind: str = "scale"
    init: dict[str, Any] = field(default_factory=dict)  # source, subset run, seconds
    rounds: list[dict[str, Any]] = field(default_factory=list)  # start labels, folds, summary per round
    status: str = "created"

    @property
    def settings(self) -> ScaleConfig:
        return ScaleConfig(**self.config)

    def folder(self) -> Path:
        return icm_home() / "jobs" / self.id


def create_scale_job(store: Store, dataset: Dataset, task: TaskSpec, scorer: ScorerConfig, config: ScaleConfig,
                     *, data_source: str, search: SearchConfig | None = None) -> ScaleJob:  # fmt: skip
    """Store the job and its run (all examples, gold kept apart for reporting); nothing is computed yet.
    `search`: the settings of the "icm" start's Algorithm 1 run on the subset."""
    if len(task.label_words) != 2:
        raise ValueError("scalable ICM labels binary tasks (two label words)")
    if scorer.model.startswith("openai:"):
        raise ValueError("scalable ICM fine-tunes the model: it needs a local model, not a server")
    folds = assign_folds(dataset.examples, config.folds, seed=config.seed)  # refuses too few groups, first
    job_id = "scale-" + time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]
    run_id = store.create_run(dataset, task, SearchConfig(seed=config.seed), scorer, data_source=data_source,
                              name=f"{job_id}: Algorithm 3, F={config.folds}, {len(dataset.examples)} examples")  # fmt: skip
    search = search or SearchConfig(seed=config.seed, calibrate=config.calibrate)
    job = ScaleJob(id=job_id, data_source=data_source, run_id=run_id, config=config.to_dict(),
                   folds=folds,
                   init={"search": search.to_dict()})  # fmt: skip
    store.save_job(job.id, asdict(job))
    return job


def load_scale_job(store: Store, job_id: str) -> ScaleJob:
    spec = store.job(job_id)
    if spec.get("kind") != "scale":
        raise ValueError(f"{job_id} is not a scalable-ICM job")
    return ScaleJob(**spec)


def scale_jobs(store: Store) -> list[ScaleJob]:
    return [ScaleJob(**spec) for _, spec in store.jobs() if spec.get("kind") == "scale"]


def delete_scale_job(store: Store, job: ScaleJob) -> None:
    """The job, its run, its start run and every adapter it saved."""
    shutil.rmtree(job.folder(), ignore_errors=True)
    for run_id in (job.run_id, job.init.get("run_id")):
        if run_id:
            store.delete_run(run_id)
    store.delete_job(job.id)


def _save(store: Store, job: ScaleJob) -> None:
    store.save_job(job.id, asdict(job))


def _labels_and_pins(store: Store, run_id: str) -> tuple[Labels, dict[int, int], list[int]]:
    """The run's labels and pins with the researcher's pending overrides folded in, and those overrides' ids."""
    saved = store.checkpoint(run_id) or {"labels": {}, "pinned": {}}
    labels = {int(k): int(v) for k, v in saved["labels"].items()}
    pins = {int(k): int(v) for k, v in saved["pinned"].items()}
    pending = store.pending_overrides(run_id)
    for o in pending:
        idx = o["idx"]
        label, pinned = fold_override(labels.get(idx), idx in pins, kind=o.get("kind") or "override",
                                      new_label=o["new_label"], new_pinned=bool(o["pinned"]))  # fmt: skip
        pins.pop(idx, None)
        if label is None:
            labels.pop(idx, None)
        else:
            labels[idx] = label
            if pinned:
                pins[idx] = label
    return labels, pins, [o["id"] for o in pending]


def _record(store: Store, job: ScaleJob, iteration: int, labels: Labels, pins: dict[int, int],
            applied: list[int], scores: Mapping[int, float], seconds: float) -> float:  # fmt: skip
    """Write one round's labels as the run's checkpoint `iteration`; returns the share of labels changed."""
    saved = store.checkpoint(job.run_id) if iteration else None
    before = {int(k): int(v) for k, v in saved["labels"].items()} if saved else {}
    _, gold = store.search_examples(job.run_id)
    changed = {i: (before.get(i), y) for i, y in labels.items() if before.get(i) != y}
    rng = random.Random(job.settings.seed).getstate()
    state = {"labels": {str(k): v for k, v in labels.items()}, "pinned": {str(k): v for k, v in pins.items()},
             "iteration": iteration, "order": sorted(i for f in job.folds for i in f),
             "rng_state": [rng[0], list(rng[1]), rng[2]], "chain": 0}  # fmt: skip
    event = {"iteration": iteration, "n_labeled": len(labels), "gold_agreement": gold_agreement(labels, gold),
             "seconds": seconds, "tokens": 0, "accepted": 1, "skipped": 0, "delta": 0.0,
             "changed": json.dumps(sorted(changed)), "chain": 0, "phase": "init" if iteration == 0 else "search",
             "move": "scale"}  # fmt: skip
    store.record_step(job.run_id, event, state, dict(scores), changed, applied_overrides=applied)
    return changed_share(before, labels) if iteration else 1.0


def start_labels(store: Store, job: ScaleJob, model: FoldModel, *,
                 scorer_factory: ScorerFactory, progress: Progress = lambda _m: None) -> None:  # fmt: skip
    """Iteration 0 of the job's run: Algorithm 1 on a subset that fits a context ("icm"), or the base model's
    zero-shot predictions made consistent by Algorithm 4 ("zero_shot")."""
    if store.checkpoint(job.run_id):
        return
    config, info = job.settings, store.run(job.run_id)
    task = TaskSpec.from_dict(info.task)
    examples, _ = store.search_examples(job.run_id)
    t0 = time.perf_counter()
    _, pins, applied = _labels_and_pins(store, job.run_id)
    if config.init == "zero_shot":
        progress(f"start: zero-shot predictions for {len(examples)} examples")
        logodds = model.predict(None, [e.idx for e in examples])
        labels = decide_by_confidence(group_members(examples), logodds, task.rules, pinned=pins)
    else:
        logodds = {}
        if not job.init.get("run_id"):
            subset = set(split_batches(examples, config.subset, seed=config.seed)[0])
            rows = [{**e["row"], "_row": e["idx"]} for e in store.examples(job.run_id) if e["idx"] in subset]
            dataset = build_dataset(rows, task)
            job.init["run_id"] = store.create_run(dataset, task, SearchConfig.from_dict(job.init["search"]),
                                                  ScorerConfig(**info.scorer), data_source=job.data_source,
                                                  name=f"{job.id}: Algorithm 1 on {len(subset)} examples (the start)")  # fmt: skip
            _save(store, job)
        sub = job.init["run_id"]
        if store.run(sub).status != "finished":
            sub_examples, _ = store.search_examples(sub)
            progress(f"start: Algorithm 1 on {len(sub_examples)} examples (run {sub})")
            Runner(store, sub, scorer_factory(sub_examples, task, ScorerConfig(**info.scorer))).run(
                on_step=step_reporter(progress, "start")
            )
        rows_of = {e["idx"]: e["row"]["_row"] for e in store.examples(sub)}
        labels = {rows_of[i]: y for i, y in store.current_labels(sub).items()}
    labels.update(pins)
    job.init.update(source=config.init, seconds=time.perf_counter() - t0, n_labeled=len(labels))
    _record(store, job, 0, labels, pins, applied, logodds, job.init["seconds"])
    _save(store, job)


def run_round(store: Store, job: ScaleJob, r: int, models: Sequence[FoldModel], *,
              progress: Progress = lambda _m: None) -> dict[str, Any] | None:  # fmt: skip
    """Round r (0-based): each fold's model trains on the other folds' labels and predicts its own fold;
    then Algorithm 4 over the predictions, pins kept. Folds already saved are not redone; a stop command ends
    the round after the folds under way (None: the round is unfinished). Several `models` (one per device)
    train folds side by side; each fold is saved, under a lock, before its model is handed to the next fold,
    so a crash while fold f+1 trains never loses fold f."""
    if len(job.rounds) <= r:
        labels, pins, _ = _labels_and_pins(store, job.run_id)
        job.rounds.append({"start_labels": {str(k): v for k, v in labels.items()},
                           "pins": {str(k): v for k, v in pins.items()},
                           "folds": [None] * len(job.folds), "summary": None})  # fmt: skip
        _save(store, job)
    entry = job.rounds[r]
    train_labels = {int(k): v for k, v in entry["start_labels"].items()}  # pinned labels included
    todo = [f for f, done in enumerate(entry["folds"]) if done is None]
    free: queue.Queue[FoldModel] = queue.Queue()
    for m in models:
        free.put(m)

    stopping = threading.Event()
    saving = threading.Lock()

    def one(f: int) -> None:
        if stopping.is_set() or "stop" in store.pending_commands(job.run_id):
            stopping.set()
            return
        model = free.get()
        try:
            t0 = time.perf_counter()
            ids = training_ids(job.folds, f, train_labels)
            folder = job.folder() / f"round-{r + 1}" / f"fold-{f + 1}"

            def step(s: int, n: int, loss: float) -> None:
                if s == n or s % 10 == 0:
                    progress(f"round {r + 1} fold {f + 1}/{len(job.folds)}: step {s}/{n}, loss {loss:.3f}")

            losses = model.train(ids, train_labels, folder, step) if ids else []
            trained = time.perf_counter() - t0
            logodds = model.predict(folder if ids else None, job.folds[f])
            result = {"adapter": str(folder) if ids else None, "trained_on": len(ids), "losses": losses,
                      "train_seconds": trained, "seconds": time.perf_counter() - t0,
                      "logodds": {str(i): lo for i, lo in logodds.items()}}  # fmt: skip
            with saving:
                entry["folds"][f] = result
                _save(store, job)
        finally:
            free.put(model)
        loss = f", loss {losses[0]:.3f} -> {losses[-1]:.3f}" if losses else ""
        progress(f"round {r + 1} fold {f + 1}/{len(job.folds)}: trained on {len(ids)} examples"
                 f"{loss}, {result['seconds']:.0f} s")  # fmt: skip
        if "stop" in store.pending_commands(job.run_id):
            stopping.set()

    with ThreadPoolExecutor(max_workers=max(1, len(models))) as pool:
        list(pool.map(one, todo))  # re-raises a fold's error here
    if any(d is None for d in entry["folds"]):
        return None
    if entry["summary"] is None or store.checkpoint(job.run_id)["iteration"] < r + 1:
        logodds = {int(i): lo for d in entry["folds"] for i, lo in d["logodds"].items()}
        examples, gold = store.search_examples(job.run_id)
        _, pins, applied = _labels_and_pins(store, job.run_id)
        task = TaskSpec.from_dict(store.run(job.run_id).task)
        labels = decide_by_confidence(group_members(examples), logodds, task.rules, pinned=pins)
        seconds = sum(d["seconds"] for d in entry["folds"])
        share = _record(store, job, r + 1, labels, pins, applied, logodds, seconds)
        entry["summary"] = {"changed": share, "share_1": sum(labels.values()) / max(1, len(labels)),
                            "gold_agreement": gold_agreement(labels, gold), "seconds": seconds,
                            "n_labeled": len(labels)}  # fmt: skip
        _save(store, job)
    return entry["summary"]


def run_scale_job(store: Store, job: ScaleJob, models: Sequence[FoldModel], *,
                  scorer_factory: ScorerFactory, progress: Progress = lambda _m: None) -> ScaleJob:  # fmt: skip
    """The start, then rounds until `should_stop`; safe to call again after a crash or a stop (it resumes at
    the first unfinished fold). A stop command sent to the job's run ends it after the folds under way."""
    store.clear_commands(job.run_id)
    store.set_status(job.run_id, "running")
    job.status = "running"
    _save(store, job)
    start_labels(store, job, models[0], scorer_factory=scorer_factory, progress=progress)
    while True:
        done = [e["summary"] for e in job.rounds if e["summary"] is not None]
        if should_stop(len(done), done[-1]["changed"] if done else None, job.settings):
            break
        r = len(done)
        summary = run_round(store, job, r, models, progress=progress)
        if summary is None or "stop" in store.pending_commands(job.run_id):
            store.clear_commands(job.run_id)
            store.set_status(job.run_id, "stopped", "stopped; icm scale --resume continues at the next fold")
            job.status = "stopped"
            _save(store, job)
            return job
        gold = summary["gold_agreement"]
        progress(f"round {r + 1}: {summary['changed']:.1%} of labels changed, share of label 1 "
                 f"{summary['share_1']:.2f}" + (f", gold agreement {gold:.3f}" if gold is not None else ""))  # fmt: skip
    store.set_status(job.run_id, "finished")
    job.status = "finished"
    _save(store, job)
    return job


class LoraFoldModel:
    """The real `FoldModel`: LoRA (evaluation/finetune.py) on a local causal LM loaded once, predictions
    read zero-shot from the merged model with the run's prompt."""

    def __init__(self, examples: Sequence[Example], task: TaskSpec, scorer: ScorerConfig, config: ScaleConfig,
                 *, loaded: tuple[Any, Any] | None = None) -> None:  # fmt: skip
        from ..scoring.models import load_model

        self.examples, self.task, self.scorer_config, self.config = list(examples), task, scorer, config
        self.by_idx = {e.idx: e for e in self.examples}
        self.model, self.tokenizer = loaded or load_model(ScorerConfig(**{**scorer.to_dict(), "adapter": ""}))
        self._last: tuple[Path, Any] | None = None

    def train(self, ids: Sequence[int], labels: Mapping[int, int], folder: Path,
              progress: Callable[[int, int, float], None]) -> list[float]:  # fmt: skip
        from ..evaluation.finetune import FinetuneConfig, finetune, merged, save_adapter
        from ..tasks.template import render

        c = self.config
        settings = FinetuneConfig(rank=c.rank, lora_alpha=2 * c.rank, lr=c.lr, epochs=c.epochs,
                                  batch_size=c.batch_size, seed=c.seed)  # fmt: skip
        prompts = [render(self.task.template, self.by_idx[i].fields) for i in ids]
        words = [self.task.label_words[0 if labels[i] == 1 else 1] for i in ids]
        losses: list[float] = []

        def hear(step: int, total: int, loss: float) -> None:
            losses.append(loss)
            progress(step, total, loss)

        tuned = finetune(self.model, self.tokenizer, prompts, words, settings, progress=hear)
        save_adapter(tuned, folder)
        self._last = (folder, merged(tuned))
        return losses

    def predict(self, folder: Path | None, ids: Sequence[int]) -> dict[int, float]:
        from ..evaluation.baselines import zero_shot
        from ..evaluation.finetune import load_adapter
        from ..scoring.models import resolve_scoring
        from ..scoring.prompts import PromptScorer
        from ..scoring.transformers_backend import TransformersBackend

        if folder is None:
            model = self.model
        elif self._last and self._last[0] == folder:
            model = self._last[1]
        else:
            model = load_adapter(self.model, folder)
        backend = TransformersBackend(model, self.tokenizer, self.task.label_words,
                                      mode=resolve_scoring(self.scorer_config.scoring, model))  # fmt: skip
        return zero_shot(
            PromptScorer(self.examples, self.task, backend), ids, calibrate=self.config.calibrate
        )


def rounds_table(store: Store, job: ScaleJob) -> list[dict[str, Any]]:
    """One row per checkpoint of the job's run: the start (round 0), then each finished round: labels changed,
    share of label 1, gold agreement (None without gold; never used by the job) and seconds."""
    events = {e["iteration"]: e for e in store.events(job.run_id)}
    rows = []
    if 0 in events:
        labels = store.labels_at(job.run_id, 0)
        ones = sum(v["label"] == 1 for v in labels.values())
        rows.append({"round": 0, "what": f"start ({job.init.get('source', job.settings.init)})",
                     "n_labeled": len(labels), "changed": None, "share_1": ones / max(1, len(labels)),
                     "gold_agreement": events[0]["gold_agreement"], "seconds": job.init.get("seconds")})  # fmt: skip
    for r, entry in enumerate(job.rounds):
        if entry["summary"]:
            rows.append({"round": r + 1, "what": f"round {r + 1}", **entry["summary"]})
    return rows


def progress_of(job: ScaleJob) -> tuple[int, int, float | None]:
    """(folds done, folds in at most R rounds, seconds left at the mean fold time so far; None before one)."""
    done = [d for e in job.rounds for d in e["folds"] if d is not None]
    total = job.settings.rounds * len(job.folds)
    if job.status == "finished":
        return len(done), len(done), 0.0
    mean = sum(d["seconds"] for d in done) / len(done) if done else None
    return len(done), total, None if mean is None else mean * (total - len(done))


def fold_losses(job: ScaleJob) -> list[dict[str, Any]]:
    """Every saved fold's training loss per step, for the loss chart."""
    return [{"round": r + 1, "fold": f + 1, "losses": d["losses"]}
            for r, e in enumerate(job.rounds) for f, d in enumerate(e["folds"]) if d is not None]  # fmt: skip


def job_of_run(store: Store, run_id: str) -> ScaleJob | None:
    """The scalable-ICM job whose labels this run holds (its rounds are not a search the Run page can drive)."""
    return next((j for j in scale_jobs(store) if j.run_id == run_id), None)
