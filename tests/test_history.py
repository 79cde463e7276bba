"""Label history (migration 8), undo (`restore_label`) and the audit trail, on a fake scorer."""

from __future__ import annotations

import csv
import io
import sqlite3

import pytest
from conftest import FakeScorer, hashed_signal

from icm_app.core.config import SearchConfig
from icm_app.io.loaders import build_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.store import sqlite_store
from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import TaskSpec
from icm_app.worker.runner import Runner

N = 14


def new_run(store: Store, **cfg) -> str:
    task = TaskSpec(
        name="t", template="Text: {text}\nLabel:", gold_field="label", label_words=(" good", " bad")
    )
    dataset = build_dataset([{"text": f"item {i}", "label": i % 2} for i in range(N)], task)
    config = SearchConfig(**{"iterations": 12, "k_init": 4, **cfg})
    return store.create_run(dataset, task, config, ScorerConfig(), data_source="mem")


def runner(store: Store, run_id: str) -> Runner:
    return Runner(store, run_id, FakeScorer(hashed_signal(N, seed=3), coupling=0.6))


def spy_checkpoints(store: Store, monkeypatch) -> list[tuple[int, int, dict[int, tuple[int, bool]]]]:
    """Every state the runner checkpoints, as (chain, iteration, idx -> (label, pinned))."""
    seen: list[tuple[int, int, dict[int, tuple[int, bool]]]] = []
    original = store.record_step

    def record_step(run_id, event, state, *args, **kwargs):
        pinned = {int(k) for k in state["pinned"]}
        labels = {int(k): (int(v), int(k) in pinned) for k, v in state["labels"].items()}
        seen.append((event.get("chain") or 0, state["iteration"], labels))
        return original(run_id, event, state, *args, **kwargs)

    monkeypatch.setattr(store, "record_step", record_step)
    return seen


def as_pairs(labels: dict[int, dict]) -> dict[int, tuple[int, bool]]:
    return {i: (v["label"], v["pinned"]) for i, v in labels.items()}


def test_migration_8_marks_old_runs_as_without_history(tmp_path, monkeypatch):
    """Catches: old runs claiming a history they never recorded (a replay would show wrong labels), or
    the migration failing on a database from before it."""
    path = tmp_path / "old.sqlite"
    with monkeypatch.context() as m:
        m.setattr(sqlite_store, "MIGRATIONS", sqlite_store.MIGRATIONS[:7])
        old = Store(path)
        old_run = new_run(old)
        old.db.execute(
            "INSERT INTO overrides (run_id, idx, old_label, new_label, pinned, who, at, note) "
            "VALUES (?, 2, NULL, 1, 1, 'Ada', 0, '')",
            (old_run,),
        )
        old.close()
    store = Store(path)
    assert not store.has_history(old_run)
    assert store.labels_at(old_run, 5) == {}
    assert store.overrides(old_run)[0]["kind"] == "override"  # old overrides are plain overrides
    runner(store, old_run).run()  # resuming an old run records no partial history
    assert store.db.execute("SELECT count(*) FROM label_changes").fetchone()[0] == 0
    fresh = new_run(store)
    assert store.has_history(fresh)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT max(version) FROM migrations").fetchone()[0] == len(
            sqlite_store.MIGRATIONS
        )  # every later one too


def test_labels_at_equals_every_checkpoint_across_restarts_and_overrides(monkeypatch):
    """Catches: a diff against the wrong base (the labels table, which overrides and restarts also write),
    a missing iteration 0 per chain, an override applied between iterations missing from the history, and
    completion steps not recorded."""
    store = Store()
    run_id = new_run(store, restarts=3, iterations=10)
    seen = spy_checkpoints(store, monkeypatch)
    actions = {
        (0, 4): lambda: store.add_override(run_id, 3, 1, who="Ada"),
        (0, 6): lambda: store.add_override(run_id, 3, None, who="Ada"),  # unpin: label kept
        (1, 2): lambda: store.add_override(run_id, 7, 0, who="Bo"),
        (1, 5): lambda: store.restore_label(run_id, 7, None, False, who="Bo", note="undo"),
    }

    def on_step(step: dict) -> None:
        action = actions.pop((step["chain"], step["iteration"]), None)
        if action:
            action()

    runner(store, run_id).run(on_step=on_step)
    assert not actions, "every override was sent"
    assert {c for c, _, _ in seen} == {0, 1, 2}
    assert any(it > 10 for _, it, _ in seen), "completion steps were checkpointed too"
    for chain, iteration, labels in seen:
        assert as_pairs(store.labels_at(run_id, iteration, chain)) == labels, (chain, iteration)
    shown = store.run(run_id).chain
    last = max(it for c, it, _ in seen if c == shown)
    assert {i: v["label"] for i, v in store.labels_at(run_id, last).items()} == {
        i: v["label"] for i, v in store.labels(run_id).items()
    }
    first = [(c, it) for c, it, _ in seen if c == 0][0]
    assert first == (0, 0)
    zero = store.db.execute(
        "SELECT count(*) FROM label_changes WHERE run_id = ? AND chain = 0 AND iteration = 0", (run_id,)
    ).fetchone()[0]
    assert zero == len(seen[0][2]) > 0  # every initial label recorded, old = None


def test_label_history_of_an_overridden_example(monkeypatch):
    """Catches: an override not in the example's history, or its pin change dropped."""
    store = Store()
    run_id = new_run(store, iterations=8)
    state: dict = {}

    def on_step(step: dict) -> None:
        if step["iteration"] == 3:
            current = store.labels(run_id).get(5, {}).get("label")
            state["new"] = 0 if current == 1 else 1
            store.add_override(run_id, 5, state["new"], who="Ada")

    runner(store, run_id).run(on_step=on_step)
    history = store.label_history(run_id, 5)
    pins = [h for h in history if h["new_pinned"]]
    assert len(pins) == 1 and pins[0]["iteration"] == 4 and pins[0]["new_label"] == state["new"]
    assert not pins[0]["old_pinned"]
    assert history == sorted(history, key=lambda h: (h["chain"], h["iteration"]))
    applied = store.overrides(run_id)[0]
    assert (applied["applied_iteration"], applied["applied_chain"]) == (4, 0)


def test_restore_label_is_shown_at_once_and_applied_by_the_runner():
    """Catches: undo that leaves the pin (or the label) behind, a pending restore not overlaid, or the
    runner treating a restore like an override (pinning it)."""
    store = Store()
    run_id = new_run(store, iterations=6, complete=False)
    r = runner(store, run_id)
    r.run()
    before = store.labels(run_id)
    labeled = sorted(before)
    a, b = labeled[0], labeled[1]
    unlabeled = next(i for i in range(N) if i not in before)
    store.add_override(run_id, a, 1 - before[a]["label"], who="Ada")
    store.add_override(run_id, unlabeled, 1, who="Ada")
    assert store.labels(run_id)[a]["pinned"] and store.labels(run_id)[unlabeled]["pinned"]
    # undo both: a back to its old label unpinned; the unlabeled one back to unlabeled
    store.restore_label(run_id, a, before[a]["label"], False, who="Ada", note="undo")
    store.restore_label(run_id, unlabeled, None, False, who="Ada", note="undo")
    store.restore_label(run_id, b, before[b]["label"], True, who="Ada")  # restore may also pin
    now = store.labels(run_id)
    assert now[a]["label"] == before[a]["label"] and not now[a]["pinned"]
    assert unlabeled not in now
    assert now[b]["pinned"]
    kinds = [o["kind"] for o in store.overrides(run_id)]
    assert kinds == ["override", "override", "restore", "restore", "restore"]
    undo = store.overrides(run_id)[2]
    assert (undo["old_label"], undo["old_pinned"], undo["new_label"], undo["pinned"]) == (
        1 - before[a]["label"], 1, before[a]["label"], 0,
    )  # fmt: skip
    with pytest.raises(ValueError):
        store.restore_label(run_id, a, None, True, who="Ada")
    # the runner applies them on resume with more iterations: the annealer's state follows
    store.update_config(
        run_id, search={**store.run(run_id).search, "iterations": 8}, scorer=store.run(run_id).scorer,
        model=store.run(run_id).model,
    )  # fmt: skip
    r = runner(store, run_id)
    r._apply_overrides()
    assert a not in r.annealer.state.pinned and r.annealer.labels[a] == before[a]["label"]
    assert unlabeled not in r.annealer.labels and unlabeled not in r.annealer.state.pinned
    assert r.annealer.state.pinned[b] == before[b]["label"]
    r.run()
    assert store.pending_overrides(run_id) == []
    checkpoint = store.checkpoint(run_id)
    assert str(unlabeled) not in checkpoint["pinned"] and str(a) not in checkpoint["pinned"]
    assert checkpoint["pinned"][str(b)] == before[b]["label"]


def test_audit_csv_lists_every_override_and_restore(monkeypatch):
    """Catches: a restore missing from the audit export, label words wrong way round, a time without its
    UTC offset, or the applying iteration lost."""
    from icm_app.io.audit import audit_csv, audit_rows, label_history_rows

    store = Store()
    run_id = new_run(store, iterations=8)

    def on_step(step: dict) -> None:
        if step["iteration"] == 2:
            store.add_override(run_id, 6, 1, who="Ada", note="clearly good")
        if step["iteration"] == 5:
            store.restore_label(run_id, 6, None, False, who="Ada", note="undo")

    runner(store, run_id).run(on_step=on_step)
    rows = audit_rows(store, run_id)
    assert [r["kind"] for r in rows] == ["override", "restore"]
    assert rows[0]["idx"] == 6 and rows[0]["text"] == "item 6"
    assert rows[0]["new_label"] == 1 and rows[0]["new_word"] == "good" and rows[0]["pinned"] is True
    assert rows[0]["applied_iteration"] == 3 and rows[1]["applied_iteration"] == 6
    assert rows[1]["new_label"] is None and rows[1]["new_word"] == "" and rows[1]["old_word"] == "good"
    assert rows[0]["when"][-6] in "+-" and "T" in rows[0]["when"]  # ISO local time with its UTC offset
    parsed = list(csv.DictReader(io.StringIO(audit_csv(store, run_id).decode("utf-8"))))
    assert [p["kind"] for p in parsed] == ["override", "restore"]
    assert parsed[0]["who"] == "Ada" and parsed[0]["note"] == "clearly good"
    history = label_history_rows(store, run_id, 6)
    causes = [h["cause"] for h in history]
    assert "override" in causes and "restore" in causes
    restore = next(h for h in history if h["cause"] == "restore")
    assert restore["who"] == "Ada" and restore["iteration"] == 6
    assert causes.index("override") < causes.index("restore")


def test_label_history_rows_name_the_cause_of_each_change():
    """Catches: every change called a flip (init, ConsistencyFix, completion and swaps must be told apart)."""
    from icm_app.io.audit import label_history_rows

    store = Store()
    run_id = new_run(store, iterations=14, swap_prob=0.3, restarts=2)
    runner(store, run_id).run()
    causes = {h["cause"] for i in range(N) for h in label_history_rows(store, run_id, i)}
    assert {"init", "completion"} <= causes
    assert causes <= {"init", "search flip", "swap", "completion", "ConsistencyFix", "override", "restore"}
    assert causes & {"search flip", "swap"}
    for i in range(N):
        rows = label_history_rows(store, run_id, i)
        for h in rows:
            if h["cause"] == "search flip":
                event = next(e for e in store.events(run_id, h["chain"]) if e["iteration"] == h["iteration"])
                assert event["proposed"] == i
