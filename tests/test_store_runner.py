"""The store and the runner with a fake scorer: checkpoints, overrides, commands, exports, real paper files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FakeScorer, hashed_signal

from icm_app.core.config import SearchConfig
from icm_app.io.export import export_run
from icm_app.io.loaders import build_dataset, load_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import MIGRATIONS, Store
from icm_app.tasks.presets import TaskSpec, get_preset
from icm_app.worker.runner import Runner

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "paper"


def new_run(store: Store, n: int = 12, iterations: int = 15, **cfg) -> str:
    task = TaskSpec(name="t", template="Text: {text}\nLabel:", gold_field="label")
    rows = [{"text": f"item {i}", "label": i % 2} for i in range(n)]
    dataset = build_dataset(rows, task)
    return store.create_run(
        dataset, task, SearchConfig(iterations=iterations, **cfg), ScorerConfig(), data_source="mem"
    )


def runner(store: Store, run_id: str) -> Runner:
    return Runner(store, run_id, FakeScorer(hashed_signal(12)))


def test_a_run_created_from_a_dataset_reads_back_as_that_dataset_with_its_config_resolved():
    store = Store()
    task = TaskSpec(name="t", template="Text: {text}\nLabel:", gold_field="label", group_field="g")
    rows = [{"text": f"item {i}", "label": i % 2, "g": f"g{i // 2}", "extra": i} for i in range(6)]
    dataset = build_dataset(rows, task)
    run_id = store.create_run(dataset, task, SearchConfig(), ScorerConfig(), data_source="mem")
    info = store.run(run_id)
    assert info.name == "t on mem" and info.status == "created" and info.task == task.to_dict()
    assert info.search == SearchConfig().resolved(6).to_dict() and info.search["iterations"] is not None
    assert info.scorer == ScorerConfig().to_dict() and info.model.startswith("google/gemma-3-270m")
    assert store.dataset(run_id) == dataset  # examples (fields, group), rows and gold, as given
    assert store.search_examples(run_id) == (dataset.examples, dataset.gold)


def test_every_iteration_is_recorded_with_its_checkpoint():
    store = Store()
    run_id = new_run(store)
    summary = runner(store, run_id).run()
    events = store.events(run_id)
    search = [e for e in events if e["phase"] == "search"]
    completion = [e for e in events if e["phase"] == "complete"]  # the rest labeled through U
    assert summary.status == "finished" and [e["iteration"] for e in events] == list(range(len(events)))
    assert events[0]["phase"] == "init" and [e["iteration"] for e in search] == list(range(1, 16))
    assert completion and len(events) == 16 + len(completion) and events[-1]["n_labeled"] == 12
    assert store.checkpoint(run_id)["iteration"] == 15 + len(completion)
    labels = store.labels(run_id)
    assert {i: v["label"] for i, v in labels.items()} == runner(store, run_id).annealer.labels
    for e in search:
        assert e["temperature"] > 0 and e["proposed"] is not None and e["n_labeled"] >= 8
    for e in completion:
        assert e["temperature"] is None and e["move"] == "complete" and e["accepted"] == 1
    gold = {i: i % 2 for i in range(12)}
    final = {i: v["label"] for i, v in labels.items()}
    assert events[-1]["gold_agreement"] == sum(final[i] == gold[i] for i in final) / len(final)


def test_override_pins_a_label_the_search_never_changes():
    store = Store()
    run_id = new_run(store, iterations=40)
    store.add_override(run_id, 3, 1, who="tester", note="looks positive")
    store.add_override(run_id, 4, 0)
    runner(store, run_id).run()
    labels = store.labels(run_id)
    assert labels[3] == {**labels[3], "label": 1, "pinned": True}
    assert labels[4]["label"] == 0 and labels[4]["pinned"]
    trail = store.overrides(run_id)
    assert [(o["idx"], o["new_label"], o["who"]) for o in trail] == [(3, 1, "tester"), (4, 0, "user")]
    assert all(o["applied"] for o in trail)
    assert all(e["proposed"] not in (3, 4) for e in store.events(run_id)[1:])


def test_pause_command_stops_between_iterations_and_resume_finishes():
    store = Store()
    run_id = new_run(store, iterations=20)
    store.send_command(run_id, "pause")
    assert runner(store, run_id).run().status == "paused"
    assert store.run(run_id).status == "paused"
    assert runner(store, run_id).run().status == "finished"
    completed = sum(e["phase"] == "complete" for e in store.events(run_id))
    assert store.checkpoint(run_id)["iteration"] == 20 + completed


def test_run_ids_resolve_by_unique_prefix_and_delete_removes_everything():
    store = Store()
    run_id = new_run(store, iterations=2)
    assert store.run(run_id[:-2]).id == run_id
    store.delete_run(run_id)
    assert store.runs() == [] and store.examples(run_id) == []


def test_export_has_label_score_pin_and_provenance(tmp_path):
    store = Store()
    run_id = new_run(store, iterations=5)
    runner(store, run_id).run()
    out = export_run(store, run_id, tmp_path / "x.jsonl")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(store.labels(run_id))
    assert {"label", "label_word", "logodds_label1", "confidence", "pinned", "run_id", "model", "config",
            "exported_at"} <= set(rows[0])  # fmt: skip
    labels = store.labels(run_id)
    for row in rows:  # the export says which way each number points (a score of +1.7 on a 0 row confused)
        score = labels[row["idx"]]["score"]
        assert row["logodds_label1"] == score and row["confidence"] == (
            score if row["label"] == 1 else -score
        )
    with pytest.raises(ValueError, match="unknown export format"):
        export_run(store, run_id, tmp_path / "x.xlsx")


def test_migrations_are_recorded_once(tmp_path):
    path = tmp_path / "a.sqlite"
    Store(path).close()
    store = Store(path)
    assert [r[0] for r in store.db.execute("SELECT version FROM migrations")] == list(
        range(1, len(MIGRATIONS) + 1)
    )
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data not beside the checkout")
@pytest.mark.parametrize(
    ("preset", "filename", "rows", "groups"),
    [("truthfulqa", "test_truthfulqa.json", 1000, 144), ("gsm8k", "test_gsm8k.json", 2972, 743),
     ("alpaca", "test_alpaca.json", 934, 467)],
)  # fmt: skip
def test_presets_load_the_paper_files_directly(preset, filename, rows, groups):
    dataset = load_dataset(SHARED / filename, get_preset(preset))
    assert len(dataset.examples) == rows and len({e.group for e in dataset.examples}) == groups
    assert set(dataset.gold.values()) == {0, 1}
    assert all("label" not in e.fields for e in dataset.examples)


def test_override_made_while_the_search_runs_is_never_changed():
    """Another process pins a label mid-run (here: from the step callback, through the store)."""
    store = Store()
    run_id = new_run(store, iterations=60)
    r = runner(store, run_id)
    pinned_at: list[int] = []
    target = 7

    def on_step(step: dict) -> None:
        if step["iteration"] == 10:
            current = r.annealer.labels.get(target)
            store.add_override(run_id, target, 0 if current == 1 else 1, who="second tab")
            pinned_at.append(step["iteration"])

    r.run(on_step=on_step)
    wanted = store.overrides(run_id)[0]["new_label"]
    assert pinned_at == [10]
    assert store.labels(run_id)[target] == {**store.labels(run_id)[target], "label": wanted, "pinned": True}
    later = [e for e in store.events(run_id) if e["iteration"] > 11]
    assert later and all(e["proposed"] != target for e in later)
    assert all(str(target) not in e["changed"].strip("[]").split(", ") for e in later)


def test_runner_draws_the_k_initial_labels_when_only_pins_exist():
    """One home for the initialisation decision: with an override pending before the first iteration the
    runner still draws the K random labels (pins are context, not the search's start)."""
    store = Store()
    run_id = new_run(store, iterations=1, k_init=6, fix_rounds=0)
    store.add_override(run_id, 3, 1)
    runner(store, run_id).run()
    first = store.events(run_id)[0]
    assert first["iteration"] == 0 and first["n_labeled"] == 7  # the pin + K = 6
