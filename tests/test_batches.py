"""Iterative labeling in batches: groups kept whole, every row labeled once, resumable after a crash."""

from __future__ import annotations

import pytest
from conftest import FakeScorer, hashed_signal

from icm_app.core.batches import split_batches
from icm_app.core.config import SearchConfig
from icm_app.core.types import Example
from icm_app.io.loaders import build_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import TaskSpec
from icm_app.worker.batches import create_job, job_gold_agreement, job_labels, load_job, run_job

TASK = TaskSpec(
    name="t", template="Q: {text}", group_field="g", key_field="k", rules=("exclusive",), gold_field="label"
)
ROWS = [{"text": f"row {i}", "g": str(i // 4), "k": str(i % 2), "label": i % 2} for i in range(40)]


def test_split_keeps_groups_whole_and_covers_every_example_once():
    examples = [Example(i, {"t": ""}, str(i // 3) if i < 30 else None) for i in range(40)]
    batches = split_batches(examples, 8, seed=1)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(40))
    group_of = {e.idx: e.group for e in examples}
    for g in {e.group for e in examples if e.group}:
        assert sum(any(group_of[i] == g for i in b) for b in batches) == 1, f"group {g} split"
    assert all(len(b) <= 8 for b in batches)
    assert batches != split_batches(examples, 8, seed=2), "group order is a seeded shuffle"
    with pytest.raises(ValueError, match="batch_size"):
        split_batches(examples, 1)


class Crashy:
    """Scorer factory whose scorers fail once, in the given batch, mid-run (a crash)."""

    def __init__(self, crash_batch: int) -> None:
        self.calls, self.crash_batch = 0, crash_batch

    def __call__(self, examples, task, config):
        self.calls += 1
        signal = hashed_signal(len(examples), seed=self.calls)
        scorer = FakeScorer({e.idx: signal[k] for k, e in enumerate(examples)})
        if self.calls == self.crash_batch:
            real, count = scorer.score, [0]

            def failing(queries):
                count[0] += 1
                if count[0] == 6:
                    raise RuntimeError("worker killed")
                return real(queries)

            scorer.score = failing
        return scorer


def test_a_job_labels_every_batch_and_resumes_after_a_crash(icm_home):
    store = Store()
    job = create_job(store, build_dataset(ROWS, TASK), TASK, SearchConfig(iterations=12, k_init=4), ScorerConfig(),
                     data_source="mem", batch_size=12)  # fmt: skip
    assert len(job.batches) == 4 and all(len(b) <= 12 for b in job.batches)
    factory = Crashy(crash_batch=2)
    with pytest.raises(RuntimeError, match="worker killed"):
        run_job(store, job, ROWS, scorer_factory=factory)
    saved = load_job(store, job.id)
    first = saved.run_ids[0]
    assert store.run(first).status == "finished" and store.run(saved.run_ids[1]).status == "failed"
    events_before = len(store.events(first))

    run_job(store, load_job(store, job.id), ROWS, scorer_factory=Crashy(crash_batch=0))
    done = load_job(store, job.id)
    assert all(store.run(r).status == "finished" for r in done.run_ids)
    assert len(store.events(first)) == events_before, "a finished batch is not run again"
    labels = job_labels(store, done)
    assert set(labels) <= set(range(40)) and len(labels) >= 4 * 4  # each batch labels at least K
    assert done.run_ids[1] == saved.run_ids[1], "the interrupted batch resumed its own run"
    right = sum(labels[r] == ROWS[r]["label"] for r in labels)
    assert job_gold_agreement(store, done) == right / len(labels), "gold of each row, not of its batch index"


def test_a_batch_search_reports_every_tenth_iteration_so_the_job_is_never_silent(icm_home):
    store = Store()
    job = create_job(store, build_dataset(ROWS[:12], TASK), TASK, SearchConfig(iterations=25, k_init=4),
                     ScorerConfig(), data_source="mem", batch_size=12)  # fmt: skip
    said: list[str] = []
    run_job(store, job, ROWS[:12], scorer_factory=Crashy(crash_batch=0), progress=said.append)
    steps = [m for m in said if "iteration" in m]
    assert [m.split(",")[0] for m in steps] == ["batch 1/1: iteration 10", "batch 1/1: iteration 20"]
    assert all("labeled, gold agreement" in m for m in steps), steps


def test_icm_batches_prints_each_batch_and_the_gold_agreement_of_the_whole_job(
    icm_home, tmp_path, monkeypatch, capsys
):
    import json

    import icm_app.scoring as scoring
    from icm_app import cli

    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"text": r["text"], "label": r["label"]}) + "\n" for r in ROWS[:24]))
    factory = Crashy(crash_batch=0)
    monkeypatch.setattr(scoring, "build_scorer", lambda ex, task, cfg, **_: factory(ex, task, cfg))
    argv = ["batches", str(data), "--template", "Q: {text}", "--gold-field", "label", "--batch-size", "12",
            "--iterations", "10", "--k-init", "4"]  # fmt: skip
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert "batch 2/2: iteration 10" in err
    store = Store()
    [(job_id, _)] = store.jobs()
    labels = job_labels(store, load_job(store, job_id))
    right = sum(labels[r] == ROWS[r]["label"] for r in labels)
    assert f"{len(labels)}/24 rows labeled across 2 batches, gold agreement {right / len(labels):.3f}" in out
