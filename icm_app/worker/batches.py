"""Iterative labeling of a dataset larger than one context (the paper's §"Scale"): one ICM run per batch,
optionally LoRA-fine-tuning the model on all earlier batches' labels before labeling the next.

The job (its batches, child runs, adapters) lives in the store, so `icm batches --resume JOB` continues
after a crash: finished batches are kept, an interrupted one resumes from its checkpoint.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..core.batches import split_batches
from ..core.config import SearchConfig
from ..core.types import Dataset, Example, Scorer
from ..io.loaders import build_dataset
from ..scoring.models import ScorerConfig
from ..store.sqlite_store import Store
from ..tasks.presets import TaskSpec
from .runner import Runner, gold_agreement, step_reporter

ScorerFactory = Callable[[list[Example], TaskSpec, ScorerConfig], Scorer]


@dataclass
class BatchJob:
    id: str
    data_source: str
    task: dict[str, Any]
    search: dict[str, Any]
    scorer: dict[str, Any]
    batches: list[list[int]]
    run_ids: list[str | None]
    finetune_between: bool = False
    adapters: list[str | None] = field(default_factory=list)


def create_job(store: Store, dataset: Dataset, task: TaskSpec, search: SearchConfig, scorer: ScorerConfig, *,
               data_source: str, batch_size: int, finetune_between: bool = False) -> BatchJob:  # fmt: skip
    batches = split_batches(dataset.examples, batch_size, seed=search.seed)
    job = BatchJob(
        id="job-" + time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4], data_source=data_source,
        task=task.to_dict(), search=search.to_dict(), scorer=scorer.to_dict(), batches=batches,
        run_ids=[None] * len(batches), finetune_between=finetune_between, adapters=[None] * len(batches),
    )  # fmt: skip
    store.save_job(job.id, asdict(job))
    return job


def load_job(store: Store, job_id: str) -> BatchJob:
    return BatchJob(**store.job(job_id))


def run_job(
    store: Store,
    job: BatchJob,
    rows: list[dict[str, Any]],
    *,
    scorer_factory: ScorerFactory,
    finetune: Callable[[BatchJob, int], str] | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> BatchJob:
    """Label every batch in turn; returns the job with all child run ids. Safe to call again after a crash."""
    task = TaskSpec.from_dict(job.task)
    for j, batch in enumerate(job.batches):
        run_id = job.run_ids[j]
        if run_id and store.run(run_id).status == "finished":
            continue
        scorer_config = ScorerConfig(**job.scorer)
        if job.finetune_between and j > 0 and finetune is not None:
            if job.adapters[j] is None:
                progress(f"batch {j + 1}/{len(job.batches)}: fine-tuning on batches 1..{j}")
                job.adapters[j] = finetune(job, j)
                store.save_job(job.id, asdict(job))
            scorer_config = ScorerConfig(**{**job.scorer, "adapter": job.adapters[j]})
        if run_id is None:
            subset = [{**rows[i], "_row": i} for i in batch]
            dataset = build_dataset(subset, task)
            run_id = store.create_run(dataset, task, SearchConfig.from_dict(job.search), scorer_config,
                                      data_source=job.data_source, name=f"{job.id} batch {j + 1}/{len(job.batches)}")  # fmt: skip
            job.run_ids[j] = run_id
            store.save_job(job.id, asdict(job))
        examples, _ = store.search_examples(run_id)
        progress(f"batch {j + 1}/{len(job.batches)}: labeling {len(examples)} examples (run {run_id})")
        Runner(store, run_id, scorer_factory(examples, task, scorer_config)).run(
            on_step=step_reporter(progress, f"batch {j + 1}/{len(job.batches)}")
        )
    return job


def job_labels(store: Store, job: BatchJob) -> dict[int, int]:
    """Labels of the whole dataset, by original row index, from every finished batch."""
    return _by_row(store, job, store.current_labels)


def job_gold_agreement(store: Store, job: BatchJob) -> float | None:
    """Agreement with gold over every labeled row of the job (None without gold); evaluation only."""
    return gold_agreement(job_labels(store, job), _by_row(store, job, lambda r: store.search_examples(r)[1]))


def _by_row(store: Store, job: BatchJob, per_run: Callable[[str], dict[int, int]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for run_id in job.run_ids:
        if run_id is None:
            continue
        rows = {e["idx"]: e["row"]["_row"] for e in store.examples(run_id)}
        out.update({rows[i]: label for i, label in per_run(run_id).items()})
    return out


def finetune_on_earlier_batches(store: Store, job: BatchJob, j: int) -> str:
    """LoRA on the labels of batches 1..j (the paper's M_j), saved under the job; returns the adapter folder."""
    from ..evaluation.finetune import FinetuneConfig, finetune, save_adapter
    from ..paths import icm_home
    from ..scoring.models import load_model
    from ..tasks.template import render

    task = TaskSpec.from_dict(job.task)
    prompts, words = [], []
    for run_id in job.run_ids[:j]:
        examples = {e["idx"]: e for e in store.examples(run_id)}  # type: ignore[arg-type]
        for i, v in sorted(store.labels(run_id).items()):  # type: ignore[arg-type]
            prompts.append(render(task.template, examples[i]["fields"]))
            words.append(task.label_words[0 if v["label"] == 1 else 1])
    model, tokenizer = load_model(ScorerConfig(**{**job.scorer, "adapter": ""}))
    tuned = finetune(model, tokenizer, prompts, words, FinetuneConfig())
    return str(save_adapter(tuned, icm_home() / "jobs" / job.id / f"adapter-{j}"))
