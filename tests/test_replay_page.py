"""The Replay page: a slider over a chain's iterations shows the labels at that point."""

from __future__ import annotations

import pytest
from test_app_pages import make_run, page

from icm_app.store import sqlite_store
from icm_app.store.sqlite_store import Store
from icm_app.ui.replay import labels_grid_figure, proposal_text, replay_frame


def grid_labels(at) -> dict[int, str]:
    """idx -> label word, read back from the grid figure the page drew (what a researcher sees)."""
    import json

    chart = next(c for c in at.get("plotly_chart") if "replay_grid" in c.proto.id or "symbol" in c.proto.spec)
    spec = json.loads(chart.proto.spec)
    out = {}
    for trace in spec["data"]:
        for custom in trace.get("customdata") or []:
            out[int(custom[0])] = custom[1]
    return out


def test_the_slider_moves_through_iterations_and_the_labels_change(icm_home):
    """Catches: a slider that does not change what is shown, labels not those of the chosen iteration,
    and a missing proposal line."""
    run_id = make_run("replayed", iterations=12)
    store = Store()
    at = page("replay", run=run_id).run()
    assert not at.exception
    events = store.events(run_id)
    last = events[-1]["iteration"]
    slider = at.slider(key=f"replay_iteration_{store.run(run_id).chain}")
    assert slider.value == last
    assert grid_labels(at) == {
        e["idx"]: ({1: "True", 0: "False"}.get(store.labels_at(run_id, last).get(e["idx"], {}).get("label")) or "unlabeled")
        for e in store.examples(run_id)
    }  # fmt: skip
    assert grid_labels(at) != {}
    slider.set_value(0).run()
    assert not at.exception
    at0 = grid_labels(at)
    labeled0 = {i for i, w in at0.items() if w != "unlabeled"}
    assert labeled0 == set(store.labels_at(run_id, 0)) and len(labeled0) < 12  # only the K initial labels
    assert any("initial labels" in m.value for m in at.markdown)
    flip = next(e for e in events if e["iteration"] > 0 and e.get("phase") == "search" and not e["skipped"])
    at.slider(key=slider.key).set_value(flip["iteration"]).run()
    text = " ".join(m.value for m in at.markdown)
    assert f"#{flip['proposed']}" in text and ("accepted" in text or "rejected" in text)
    at.button(key=f"replay_next_{store.run(run_id).chain}").click().run()
    assert at.slider(key=slider.key).value == flip["iteration"] + 1
    assert [m.value for m in at.metric][2] == str(events[flip["iteration"] + 1]["I"])


def test_a_run_with_restarts_has_a_chain_selector(icm_home):
    """Catches: only the kept chain being replayable."""
    from conftest import FakeScorer, hashed_signal

    from icm_app.core.config import SearchConfig
    from icm_app.io.loaders import build_dataset
    from icm_app.scoring.models import ScorerConfig
    from icm_app.tasks.presets import TaskSpec
    from icm_app.worker.runner import Runner

    store = Store()
    task = TaskSpec(name="t", template="Text: {text}\nLabel:", gold_field="label")
    rows = [{"text": f"item {i}", "label": i % 2} for i in range(10)]
    run_id = store.create_run(build_dataset(rows, task), task, SearchConfig(iterations=8, restarts=2),
                              ScorerConfig(), data_source="mem")  # fmt: skip
    Runner(store, run_id, FakeScorer(hashed_signal(10))).run()
    at = page("replay", run=run_id).run()
    assert not at.exception
    box = at.selectbox(key="replay_chain")
    assert box.options == ["chain 0", "chain 1"] or len(box.options) == 2
    other = 1 - store.run(run_id).chain
    box.set_value(other).run()
    assert not at.exception
    last = store.events(run_id, other)[-1]["iteration"]
    assert at.slider(key=f"replay_iteration_{other}").value == last


def test_a_run_from_before_label_history_says_it_cannot_be_replayed(icm_home, monkeypatch):
    """Catches: an old run replayed with wrong (empty) labels instead of a clear message."""
    with monkeypatch.context() as m:  # (monkeypatch.undo() would also drop the test's ICM_HOME)
        m.setattr(sqlite_store, "MIGRATIONS", sqlite_store.MIGRATIONS[:7])
        Store().close()
        old = make_run("old run", run=False)
    at = page("replay", run=old).run()
    assert not at.exception
    assert any("cannot be replayed" in w.value for w in at.warning)
    assert not at.get("plotly_chart")


def test_a_running_run_is_replayed_up_to_its_last_committed_iteration(icm_home):
    """Catches: a page that only works on finished runs."""
    run_id = make_run("running", iterations=30, run=False)
    store = Store()
    from conftest import FakeScorer, hashed_signal

    from icm_app.worker.runner import Runner

    def stop_early(step: dict) -> None:
        if step["iteration"] == 5:
            store.send_command(run_id, "pause")

    Runner(store, run_id, FakeScorer(hashed_signal(12))).run(on_step=stop_early)
    store.set_status(run_id, "running")  # as the page sees a worker mid-run
    at = page("replay", run=run_id).run()
    assert not at.exception
    assert at.slider(key="replay_iteration_0").max == store.events(run_id)[-1]["iteration"]


def test_figures_mark_gold_disagreement_and_the_proposal():
    """Catches: the gold mark on the wrong examples, or unlabeled examples counted as disagreeing."""
    task = {"label_words": [" yes", " no"]}
    examples = [{"idx": i, "fields": {"t": f"x{i}"}, "gold": i % 2} for i in range(5)]
    labels = {
        0: {"label": 0, "pinned": False},
        1: {"label": 0, "pinned": True},
        2: {"label": 1, "pinned": False},
    }
    changes = [{"idx": 2, "old_label": 0, "new_label": 1, "old_pinned": 0, "new_pinned": 0}]
    event = {"iteration": 3, "phase": "search", "move": "flip", "proposed": 2, "old_label": 0, "new_label": 1,
             "delta": -0.5, "temperature": 2.0, "accepted": 1, "skipped": 0}  # fmt: skip
    frame = replay_frame(examples, labels, changes, event, task)
    assert list(frame["gold_disagrees"]) == [False, True, True, False, False]
    assert frame.set_index("idx").loc[2, "change"] == "no → yes (search flip)"
    fig = labels_grid_figure(frame, task, proposed=2)
    names = [t.name for t in fig.data]
    assert "gold disagrees (2)" in names and "pinned (1)" in names and "proposed here" in names
    assert "unlabeled (2)" in names and "changed here (1)" in names
    text = proposal_text(event, {e["idx"]: e for e in examples}, task)
    assert "#2" in text and "no → **yes**" in text and "accepted" in text and "-0.500" in text


@pytest.mark.model
def test_replay_of_a_real_model_run_ends_at_its_stored_labels(copy_bundled_runs):
    """Catches: history and the kept labels disagreeing on a real run with two chains (the labels table is
    rewritten to the best chain at the end), and the page failing on real data."""
    store = Store()
    for run_id in copy_bundled_runs:
        assert store.has_history(run_id)
        last = store.events(run_id)[-1]["iteration"]
        at_last = {i: v["label"] for i, v in store.labels_at(run_id, last).items()}
        assert at_last == {i: v["label"] for i, v in store.labels(run_id).items()}
        n = len(store.examples(run_id))
        assert len(at_last) == n  # the completion phase labels every example
        assert len(store.labels_at(run_id, 0)) < n  # iteration 0: only the K initial labels
    at = page("replay", run=copy_bundled_runs[0]).run()
    assert not at.exception
    assert len(grid_labels(at)) == len(store.examples(copy_bundled_runs[0]))
    at.slider(key=f"replay_iteration_{store.run(copy_bundled_runs[0]).chain}").set_value(1).run()
    assert not at.exception


def test_the_page_shows_an_examples_history_and_offers_the_audit_csv(icm_home):
    """Catches: the per-example history or the audit export missing from the app."""
    run_id = make_run("audited", iterations=6)
    store = Store()
    store.add_override(run_id, 4, 1, who="Ada", note="sure")
    at = page("replay", run=run_id).run()
    at.selectbox(key="replay_history_idx").set_value(4).run()
    assert not at.exception
    table = at.dataframe[-1].value  # the last table on the page
    assert list(table["cause"])[-1] == "override (pending)" and list(table["who"])[-1] == "Ada"
    assert "init" in set(table["cause"]) or "completion" in set(table["cause"])
    assert "1 overrides and undos" in at.get("download_button")[0].proto.label
