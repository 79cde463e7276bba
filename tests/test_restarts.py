"""Restarts and the completion phase through the runner and the store, on a fake scorer."""

from __future__ import annotations

import sqlite3

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
    task = TaskSpec(name="t", template="Text: {text}\nLabel:", gold_field="label")
    dataset = build_dataset([{"text": f"item {i}", "label": i % 2} for i in range(N)], task)
    config = SearchConfig(**{"iterations": 12, "k_init": 4, **cfg})
    return store.create_run(dataset, task, config, ScorerConfig(), data_source="mem")


def run(store: Store, run_id: str) -> Runner:
    r = Runner(store, run_id, FakeScorer(hashed_signal(N, seed=3), coupling=0.6))
    r.run()
    return r


def labels(store: Store, run_id: str) -> dict[int, int]:
    return {i: v["label"] for i, v in store.labels(run_id).items()}


def test_restarts_keep_the_chain_with_the_highest_u():
    store = Store()
    run_id = new_run(store, restarts=3)
    run(store, run_id)
    chains = store.chains(run_id)
    assert [c["chain"] for c in chains] == [0, 1, 2]
    assert len({round(c["U"], 9) for c in chains}) > 1, "the chains should differ for this test to mean much"
    best = max(chains, key=lambda c: c["U"])
    assert store.run(run_id).chain == best["chain"]
    assert labels(store, run_id) == {int(i): v["label"] for i, v in best["labels"].items()}
    assert len(labels(store, run_id)) == N  # every chain completes: every example labeled
    assert store.events(run_id)[-1]["U"] == best["U"]
    assert store.checkpoint(run_id)["chain"] == best["chain"]


def test_each_chain_is_stored_with_its_curve_and_agreement_across_chains():
    store = Store()
    run_id = new_run(store, restarts=3)
    run(store, run_id)
    events = store.all_events(run_id)
    chains = store.chains(run_id)
    for c in chains:
        mine = [e for e in events if e["chain"] == c["chain"]]
        assert mine[0]["iteration"] == 0 and mine[0]["phase"] == "init"
        assert [e["iteration"] for e in mine] == list(range(len(mine)))
        assert mine[-1]["U"] == c["U"] and mine[-1]["n_labeled"] == N
    finals = [{int(i): v["label"] for i, v in c["labels"].items()} for c in chains]
    for i, v in store.labels(run_id).items():
        assert v["agreement"] == sum(f[i] == v["label"] for f in finals) / 3


def test_restarts_are_reproducible_from_the_seed_and_chain_0_is_the_one_chain_run():
    store = Store()
    a, b = new_run(store, restarts=3, seed=4), new_run(store, restarts=3, seed=4)
    single = new_run(store, restarts=1, seed=4)
    for run_id in (a, b, single):
        run(store, run_id)
    summary = [(c["U"], c["labels"]) for c in store.chains(a)]
    assert summary == [(c["U"], c["labels"]) for c in store.chains(b)]
    assert labels(store, a) == labels(store, b)
    assert store.chains(single)[0]["U"] == store.chains(a)[0]["U"]
    assert store.chains(single)[0]["labels"] == store.chains(a)[0]["labels"]
    other = new_run(store, restarts=3, seed=5)
    run(store, other)
    assert [c["U"] for c in store.chains(other)] != [c["U"] for c in store.chains(a)]


def test_a_paused_restart_run_resumes_to_the_same_result():
    store = Store()
    straight, paused = new_run(store, restarts=2, seed=1), new_run(store, restarts=2, seed=1)
    run(store, straight)
    r = Runner(store, paused, FakeScorer(hashed_signal(N, seed=3), coupling=0.6))
    steps = []

    def on_step(s):
        steps.append(s)
        if s["chain"] == 1 and len([x for x in steps if x["chain"] == 1]) == 3:
            store.send_command(paused, "pause")

    assert r.run(on_step=on_step).status == "paused"
    assert store.run(paused).chain == 1 and store.checkpoint(paused)["chain"] == 1
    run(store, paused)
    assert [(c["U"], c["labels"]) for c in store.chains(paused)] == [
        (c["U"], c["labels"]) for c in store.chains(straight)
    ]
    assert labels(store, paused) == labels(store, straight)


def test_pins_carry_over_to_every_chain_and_the_kept_labels():
    store = Store()
    run_id = new_run(store, restarts=3)
    store.add_override(run_id, 2, 0)
    store.add_override(run_id, 5, 1)
    run(store, run_id)
    for c in store.chains(run_id):
        assert c["labels"]["2"]["label"] == 0 and c["labels"]["5"]["label"] == 1
        assert c["state"]["pinned"] == {"2": 0, "5": 1}
    kept = store.labels(run_id)
    assert kept[2]["label"] == 0 and kept[2]["pinned"] and kept[5]["label"] == 1 and kept[5]["pinned"]
    assert all(e["proposed"] not in (2, 5) for e in store.all_events(run_id) if e["phase"] == "search")


def test_without_completion_a_run_may_end_with_examples_unlabeled():
    store = Store()
    run_id = new_run(store, complete=False, iterations=3)
    run(store, run_id)
    assert len(labels(store, run_id)) < N
    assert {e["phase"] for e in store.events(run_id)} == {"init", "search"}


def test_create_run_stores_the_automatic_iteration_budget():
    store = Store()
    run_id = new_run(store, iterations=None)
    assert store.run(run_id).search["iterations"] == 50  # 14 * H_14 = 45.5, below the floor of 50


def test_migration_7_keeps_old_events_as_chain_0(tmp_path, monkeypatch):
    path = tmp_path / "old.sqlite"
    monkeypatch.setattr(sqlite_store, "MIGRATIONS", sqlite_store.MIGRATIONS[:6])
    old = Store(path)
    run_id = new_run(old)
    for i in range(3):
        old.db.execute(
            "INSERT INTO events (run_id, iteration, U, changed, accepted, skipped) VALUES (?, ?, ?, '[]', 1, 0)",
            (run_id, i, float(i)),
        )
    old.close()
    monkeypatch.undo()
    store = Store(path)
    events = store.events(run_id)
    assert [(e["iteration"], e["U"], e["chain"], e["phase"]) for e in events] == [
        (0, 0.0, 0, "init"), (1, 1.0, 0, "search"), (2, 2.0, 0, "search"),
    ]  # fmt: skip
    assert store.run(run_id).chain == 0 and store.chains(run_id) == []
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT max(version) FROM migrations").fetchone()[0] == len(sqlite_store.MIGRATIONS)


def test_the_labels_table_shows_agreement_across_chains_and_filters_the_unstable():
    from icm_app.ui.tables import apply_filters, labels_table

    store = Store()
    run_id = new_run(store, restarts=3)
    run(store, run_id)
    table = labels_table(store, run_id)
    stored = store.labels(run_id)
    assert table.set_index("idx")["chain agreement"].to_dict() == {
        i: v["agreement"] for i, v in stored.items()
    }
    unstable = apply_filters(table, ["unstable across chains"])
    assert sorted(unstable["idx"]) == sorted(i for i, v in stored.items() if v["agreement"] < 1)
    one = new_run(store)
    run(store, one)
    assert apply_filters(labels_table(store, one), ["unstable across chains"]).empty
    assert labels_table(store, one)["chain agreement"].isna().all()  # one chain: no stability signal


def test_a_run_paused_in_its_completion_phase_can_be_resumed_and_finishes():
    from icm_app.worker.process import can_resume

    store = Store()
    run_id = new_run(store, iterations=3)
    r = Runner(store, run_id, FakeScorer(hashed_signal(N, seed=3), coupling=0.6))

    def on_step(s):
        if s["phase"] == "complete":
            store.send_command(run_id, "pause")

    assert r.run(on_step=on_step).status == "paused"
    events = store.events(run_id)
    done = events[-1]["iteration"]
    assert events[-1]["phase"] == "complete" and done > 3 and events[-1]["n_labeled"] < N
    assert can_resume(store.run(run_id), False, done, 3)  # past the budget, yet work is left
    run(store, run_id)
    assert len(labels(store, run_id)) == N and store.run(run_id).status == "finished"
    assert not can_resume(store.run(run_id), False, store.events(run_id)[-1]["iteration"], 3)
    assert can_resume(store.run(run_id), False, 5, 10) and not can_resume(store.run(run_id), True, 5, 10)


def test_icm_run_prints_the_budget_reasoning_labels_everything_and_names_the_limit(monkeypatch, capsys):
    from icm_app import cli, scoring

    monkeypatch.setattr(
        scoring, "build_scorer", lambda examples, task, cfg, **kw: FakeScorer(hashed_signal(12))
    )
    assert cli.main(["run", "--sample", "sentiment", "--limit", "12", "--restarts", "2"]) == 0
    out, err = capsys.readouterr()
    assert (
        "iterations 50 (automatic: N*H_N for N = 12," in err
        and "12 examples, 50 iterations x 2 chains" in err
    )
    assert "12/12 labeled" in out
    verdict = next(x for x in out.splitlines() if x.startswith("search or objective? "))
    assert verdict.split("? ", 1)[1].startswith(
        ("The gold labels score", "It prefers", "U = ", "The run's")  # the verdicts of diagnosis.py
    )
    run_id = Store().runs()[0].id
    assert len(Store().chains(run_id)) == 2 and Store().run(run_id).search["swap_prob"] == 0.25
