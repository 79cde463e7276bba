"""Queued runs: two searches sharing 2 cores each crawl, so a run can wait for the ones ahead of it.

Caught: a queued run that starts while another run's worker lives; two queued runs that start together
when the first ends (the later one must wait for the earlier); a wait that ignores Stop; a Start button
that says nothing of the run already using the machine."""

from __future__ import annotations

import os
import threading
import time

import pytest
from test_app_pages import make_run, page

from icm_app.store.sqlite_store import Store
from icm_app.worker.queue import QUEUED, ahead_of, busy_runs, wait_for_turn
from icm_app.worker.runner import StopRequested, phase_reporter

LIVE = {101, 102, 103}


def alive(pid: int | None) -> bool:
    return pid in LIVE


def live_run(store: Store, name: str, pid: int, *, queued_at: float | None = None) -> str:
    run_id = make_run(name, run=False)
    store.set_status(run_id, "starting" if queued_at else "running")
    store.set_worker(run_id, pid)
    if queued_at is not None:
        store.set_phase(
            run_id, {"text": f"{QUEUED}: waiting", "done": None, "total": None, "started": queued_at}
        )
    return run_id


def test_a_queued_run_waits_for_running_runs_and_for_runs_queued_before_it(icm_home):
    store = Store()
    running = live_run(store, "running", 101)
    first = live_run(store, "queued first", 102, queued_at=100.0)
    second = live_run(store, "queued second", 103, queued_at=200.0)
    ended = make_run("ended")  # finished: holds nothing
    names = lambda runs: sorted(r.name for r in runs)  # noqa: E731
    assert names(busy_runs(store, ended, alive=alive)) == ["queued first", "queued second", "running"]
    assert names(ahead_of(store, first, 100.0, alive=alive)) == ["running"]
    assert names(ahead_of(store, second, 200.0, alive=alive)) == ["queued first", "running"]
    store.set_status(running, "finished")
    assert ahead_of(store, first, 100.0, alive=alive) == []  # its turn
    assert names(ahead_of(store, second, 200.0, alive=alive)) == ["queued first"]
    store.set_phase(first, {"text": "loading the model", "done": None, "total": None, "started": 100.0})
    assert names(ahead_of(store, second, 200.0, alive=alive)) == ["queued first"]  # started: still ahead
    LIVE.discard(102)
    try:
        assert ahead_of(store, second, 200.0, alive=alive) == []  # its worker ended
    finally:
        LIVE.add(102)


def test_wait_for_turn_returns_when_the_run_ahead_ends_and_shows_what_it_waits_for(icm_home):
    store = Store()
    running = live_run(store, "the long one", os.getpid())
    mine = make_run("mine", run=False)
    store.set_status(mine, "starting")
    store.set_worker(mine, os.getpid())
    seen: list[str] = []
    done = threading.Event()

    def worker() -> None:
        report = phase_reporter(Store(), mine, lambda phase, *_: seen.append(phase), every=0.0)
        wait_for_turn(Store(), mine, report, poll=0.01)
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    time.sleep(0.3)
    assert not done.is_set(), "started while another run's worker lives"
    assert store.run(mine).phase["text"] == f"{QUEUED}: waiting for “the long one” to end"
    store.set_status(running, "finished")
    thread.join(timeout=10)
    assert done.is_set() and seen[0] == QUEUED


def test_stop_ends_the_wait(icm_home):
    store = Store()
    live_run(store, "the long one", os.getpid())
    mine = make_run("mine", run=False)
    store.set_status(mine, "starting")
    store.set_worker(mine, os.getpid())
    store.send_command(mine, "stop")
    report = phase_reporter(store, mine, lambda *_: None, every=0.0)
    with pytest.raises(StopRequested):
        wait_for_turn(store, mine, report, poll=0.01)


def test_start_beside_a_live_run_warns_and_offers_to_queue(icm_home, monkeypatch):
    from icm_app.worker import process

    store = Store()
    live_run(store, "the long one", os.getpid())
    mine = make_run("mine", run=False)
    started: list[tuple[str, bool]] = []
    monkeypatch.setattr(process, "start_worker", lambda s, r, queue=False: started.append((r, queue)) or 1)
    at = page("run", run=mine).run()
    assert not at.exception
    assert any("“the long one” is running" in w.value for w in at.warning)
    at.button(key="queue").click().run()
    assert started == [(mine, True)]
    alone = make_run("alone", run=False)
    for r in store.runs():
        if r.status == "running":
            store.set_status(r.id, "finished")
    at = page("run", run=alone).run()
    assert not at.warning and not [b for b in at.button if b.key == "queue"]
    at.button(key="start").click().run()
    assert started[-1] == (alone, False)


@pytest.mark.model
def test_a_queued_worker_on_the_bundled_model_waits_then_runs(icm_home):
    """The real `icm resume RUN --queue` process, launched as the app launches it: it waits, saying so in
    its log and phase, while another run's worker lives, then loads the bundled model and finishes."""
    import subprocess

    from icm_app.core.config import SearchConfig
    from icm_app.io.loaders import load_dataset
    from icm_app.paths import sample_path
    from icm_app.scoring.models import ScorerConfig
    from icm_app.tasks.presets import get_preset
    from icm_app.worker.process import is_alive, start_worker, worker_log

    store = Store()
    holder = subprocess.Popen(["sleep", "600"])  # the other run's worker
    try:
        ahead = live_run(store, "the long one", holder.pid)
        task = get_preset("sentiment")
        dataset = load_dataset(str(sample_path("sentiment")), task, limit=4)
        search = SearchConfig.from_dict({**task.search_overrides, "iterations": 2, "k_init": 2})
        mine = store.create_run(dataset, task, search, ScorerConfig(), data_source="test", name="queued")
        pid = start_worker(store, mine, queue=True)
        deadline = time.time() + 60
        while "waiting for “the long one” to end" not in (store.run(mine).phase or {}).get("text", ""):
            assert time.time() < deadline and is_alive(pid), worker_log(mine)
            time.sleep(0.5)
        time.sleep(3)
        assert store.run(mine).status == "starting" and not store.events(mine), "it ran beside the other"
        store.set_status(ahead, "finished")
        deadline = time.time() + 600
        while is_alive(pid):
            assert time.time() < deadline, worker_log(mine)
            time.sleep(1)
        assert store.run(mine).status == "finished", worker_log(mine)
        log = worker_log(mine, lines=200)
        assert "queued: waiting for “the long one” to end" in log and "loading" in log
    finally:
        holder.kill()
