"""The pieces that keep live pages cheap and a starting worker visible: the status line of a phase, the
throttled phase reporter, the store's version and its events-since query."""

from __future__ import annotations

from conftest import FakeScorer, hashed_signal, make_examples

from icm_app.core.config import SearchConfig
from icm_app.io.loaders import build_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import TaskSpec
from icm_app.ui.live import phase_line
from icm_app.worker.runner import Runner, phase_reporter


def new_run(store: Store, iterations: int = 4, **search) -> str:
    task = TaskSpec(name="t", template="Text: {text}\nLabel:")
    rows = [{"text": e.fields["text"]} for e in make_examples(8)]
    config = SearchConfig(iterations=iterations, k_init=2, **search)
    return store.create_run(build_dataset(rows, task), task, config, ScorerConfig(), data_source="mem")


def test_the_phase_line_says_what_how_far_and_how_long():
    phase = {"text": "de-quantizing tensors", "done": 12, "total": 236, "started": 1000.0}
    assert phase_line(phase, now=1125.0) == "de-quantizing tensors 12/236 · 2:05 elapsed"
    assert phase_line({"text": "loading", "done": None, "total": None, "started": 1000.0}, now=1003.0) == (
        "loading · 0:03 elapsed"
    )
    assert phase_line(None) == "starting the worker…"


def test_the_phase_reporter_echoes_everything_but_writes_the_store_sparingly(icm_home):
    store = Store()
    run_id = new_run(store)
    echoed, writes = [], []
    original = store.set_phase
    store.set_phase = lambda rid, phase: (writes.append(phase), original(rid, phase))
    report = phase_reporter(store, run_id, lambda *a: echoed.append(a), every=3600)
    for n in range(50):
        report("de-quantizing tensors", n, 50)  # one phase: the first write, then only the last step
    report("de-quantizing tensors", 50, 50)
    report("writing", None, None)
    assert len(echoed) == 52
    assert [(w["text"], w["done"]) for w in writes] == [
        ("de-quantizing tensors", 0), ("de-quantizing tensors", 50), ("writing", None)
    ]  # fmt: skip
    assert store.run(run_id).phase["text"] == "writing"


def test_the_version_changes_with_every_step_status_and_override(icm_home):
    store = Store()
    run_id = new_run(store)
    seen = {store.version(run_id)}
    runner = Runner(store, run_id, FakeScorer(hashed_signal(8)))
    runner.annealer.initialize()
    runner._record(None, 0, 0.0)
    for change in (
        lambda: runner._record(runner.annealer.step(), 0, 0.0),
        lambda: store.add_override(run_id, 1, 1),
        lambda: store.set_status(run_id, "paused"),
        lambda: store.set_phase(run_id, {"text": "x"}),
        lambda: store.add_evaluation(run_id, "diagnosis", {}),
    ):
        before = store.version(run_id)
        change()
        assert store.version(run_id) != before
        seen.add(store.version(run_id))
    store.delete_run(run_id)
    assert store.version(run_id) is None


def test_events_since_returns_only_what_was_written_after(icm_home):
    store = Store()
    run_id = new_run(store, iterations=6)
    Runner(store, run_id, FakeScorer(hashed_signal(8))).run()
    every = store.events_since(run_id, 0, 0)
    assert [e["iteration"] for e in every] == [e["iteration"] for e in store.events(run_id)]
    middle = every[3]["seq"]
    assert [e["iteration"] for e in store.events_since(run_id, 0, middle)] == [
        e["iteration"] for e in every[4:]
    ]
    assert store.events_since(run_id, 0, every[-1]["seq"]) == []


def test_pause_and_stop_say_they_were_heard_until_the_worker_obeys(icm_home):
    """After Pause the page kept "running" and the Pause button for minutes (until the iteration ended)."""
    import os

    from test_app_pages import page

    store = Store()
    run_id = new_run(store)
    store.set_status(run_id, "running")
    store.set_worker(run_id, os.getpid())  # alive
    at = page("run", run=run_id).run()
    at.button(key="pause").click().run()
    assert store.pending_commands(run_id) == ["pause"]
    assert "Pausing after this iteration" in " ".join(c.value for c in at.caption)
    assert not [b for b in at.button if b.key == "pause"] and at.button(key="stop")
    at.button(key="stop").click().run()
    assert "Stopping" in " ".join(c.value for c in at.caption)
    assert not [b for b in at.button if b.key in ("pause", "stop")]


def test_a_new_worker_ignores_commands_sent_after_the_last_one_ended(icm_home, monkeypatch):
    from icm_app.worker import process

    store = Store()
    run_id = new_run(store)
    store.send_command(run_id, "pause")  # sent to a worker that had already ended
    monkeypatch.setattr(process, "launch", lambda *a, **k: 0)
    process.start_worker(store, run_id)
    assert store.pending_commands(run_id) == []


def test_stop_during_model_loading_is_obeyed_before_the_first_evaluation(icm_home, monkeypatch):
    """Stop pressed while the model loaded had no effect for 41 s (the initial evaluation ran first)."""
    from icm_app import cli, scoring

    store = Store()
    run_id = new_run(store)
    scorer = FakeScorer(hashed_signal(8))

    def loading(examples, task, cfg, report):
        report("loading", None, None)
        store.send_command(run_id, "stop")  # pressed while the weights load
        return scorer

    monkeypatch.setattr(scoring, "build_scorer", loading)
    assert cli.main(["resume", run_id]) == 0
    assert store.run(run_id).status == "stopped" and store.events(run_id) == [] and scorer.calls == []

    def converting(examples, task, cfg, report):
        store.send_command(run_id, "stop")
        report("de-quantizing tensors", 3, 236)  # the next report raises
        raise AssertionError("the stop was not obeyed")

    monkeypatch.setattr(scoring, "build_scorer", converting)
    assert cli.main(["resume", run_id]) == 0
    info = store.run(run_id)
    assert info.status == "stopped" and "while starting (de-quantizing tensors)" in info.message
    assert store.pending_commands(run_id) == []


def _live_figure(at) -> tuple[list[str], list[str]]:
    """(subplot titles, trace names) of the Run page's progress chart."""
    import json

    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    titles = [a["text"] for a in spec["layout"].get("annotations", [])]
    return titles, [t.get("name") for t in spec["data"]]


def test_while_the_model_loads_the_run_page_lays_out_the_live_chart_the_first_iteration_fills(icm_home):
    """The first draw of the live dashboard costs a headless browser about a second of CPU; drawn at the
    first iteration it was taken from the search. Drawn empty while the worker starts, with the same panels and
    series, the browser then only adds points. Caught: a skeleton whose panels or series differ from the live
    figure's (the browser lays it out again), or none at all."""
    import os

    from test_app_pages import page

    store = Store()
    run_id = new_run(store, complete=False)  # no completion phase: the live figure of a search under way
    store.set_status(run_id, "starting")
    store.set_worker(run_id, os.getpid())  # alive
    at = page("run", run=run_id).run()
    assert not at.exception
    assert "No iterations yet" in " ".join(i.value for i in at.info)
    empty = _live_figure(at)
    assert empty[0] and empty[1], "an empty live chart while the worker starts"

    Runner(store, run_id, FakeScorer(hashed_signal(8))).run()
    store.set_status(run_id, "running")
    store.set_worker(run_id, os.getpid())
    at = page("run", run=run_id).run()
    assert _live_figure(at) == empty, "the first live figure has the skeleton's panels and series"
    assert not at.metric, "while live, the numbers are one line, not six elements"
    assert "U(D) **" in " ".join(m.value for m in at.markdown)

    store.set_worker(run_id, None)
    store.set_status(run_id, "finished")
    at = page("run", run=run_id).run()
    assert [m.label for m in at.metric][:2] == ["U(D)", "I(D)"], "once ended: the six metrics"
    assert len(_live_figure(at)[0]) > len(empty[0]), "once ended: all the panels"
