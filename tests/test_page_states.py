"""Every page, for a run in every state a user can reach, renders without an exception (AppTest, no model).

A page meeting a state its author did not try (a run never started, a worker that died, a run deleted
while open) showed a traceback or a wrong state; this matrix tries them all on every page."""

from __future__ import annotations

import os
import subprocess

import pytest
from conftest import FakeScorer, hashed_signal
from test_app_pages import FILES, make_run, page
from test_multiclass import three_class_run

from icm_app.core.config import SearchConfig
from icm_app.io.loaders import build_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import TaskSpec
from icm_app.worker.runner import Runner

PAGES = ["home", *sorted(FILES)]


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _ended_early(status: str, message: str) -> str:
    """4 of 10 iterations done, then paused, stopped or failed."""
    run_id = make_run(status, iterations=4)
    store = Store()
    info = store.run(run_id)
    store.update_config(
        run_id, search={**info.search, "iterations": 10}, scorer=info.scorer, model=info.model
    )
    store.set_status(run_id, status, message)
    return run_id


def _restarts() -> str:
    store = Store()
    task = TaskSpec(name="t", template="Text: {text}\nLabel:", gold_field="label")
    rows = [{"text": f"item {i}", "label": i % 2} for i in range(10)]
    run_id = store.create_run(build_dataset(rows, task), task, SearchConfig(iterations=4, restarts=2),
                              ScorerConfig(), data_source="mem", name="restarts")  # fmt: skip
    Runner(store, run_id, FakeScorer(hashed_signal(10))).run()
    return run_id


def _multiclass() -> str:
    store = Store()
    run_id, _ = three_class_run(store)
    Runner(store, run_id, FakeScorer(hashed_signal(18))).run()
    return run_id


def _live(status: str, *, pid: int | None, run: bool) -> str:
    run_id = make_run(status, run=run)
    store = Store()
    store.set_status(run_id, status)
    store.set_worker(run_id, pid)
    if status == "starting":
        store.set_phase(run_id, {"text": "loading", "done": None, "total": None, "started": 0.0})
    return run_id


STATES = {
    "none": lambda: None,
    "created": lambda: make_run("created", run=False),
    "starting": lambda: _live("starting", pid=os.getpid(), run=False),
    "running": lambda: _live("running", pid=os.getpid(), run=True),
    "paused": lambda: _ended_early("paused", ""),
    "stopped": lambda: _ended_early("stopped", ""),
    "failed": lambda: _ended_early("failed", "RuntimeError: CUDA out of memory"),
    "finished": lambda: make_run("finished"),
    "finished with restarts": _restarts,
    "multi-class": _multiclass,
    "worker died": lambda: _live("running", pid=_dead_pid(), run=True),
    "worker died while starting": lambda: _live("starting", pid=_dead_pid(), run=False),
}


@pytest.mark.parametrize("state", list(STATES))
def test_every_page_renders_every_run_state(icm_home, state):
    run_id = STATES[state]()
    for name in PAGES:
        at = page(name, **({"run": run_id} if run_id else {})).run()
        assert not at.exception, f"{name} page, run {state}: {at.exception[0].value}"
        shown = " ".join(e.value for e in [*at.info, *at.markdown, *at.caption] if isinstance(e.value, str))
        if run_id is None and name not in ("home", "data", "runs"):
            assert "No run yet" in shown, f"{name} page with no run says nothing of it"


def test_the_labels_page_of_a_run_never_started_says_so_and_disables_the_filters(icm_home):
    """It raised `bad operand type for abs(): 'NoneType'` (every confidence is None before the start)."""
    at = page("labels", run=make_run("created", run=False)).run()
    assert not at.exception
    assert any("No labels yet" in i.value for i in at.info)
    assert at.multiselect(key="filters").disabled


def test_the_evaluate_page_of_a_run_never_started_with_gold_does_not_say_there_is_no_gold(icm_home):
    at = page("evaluate", run=make_run("created", run=False)).run()
    shown = " ".join(i.value for i in at.info)
    assert "No labels yet" in shown and "no gold column" not in shown


def test_every_page_survives_its_run_being_deleted_while_open(icm_home):
    keep = make_run("kept")
    for name in PAGES:
        gone = make_run("deleted while open")
        at = page(name, run=gone).run()
        assert not at.exception
        Store().delete_run(gone)
        at.run()  # the same session draws again: its run is gone
        assert not at.exception, f"{name} page after its run was deleted: {at.exception[0].value}"
    assert Store().run(keep)
