"""kill -9 a real worker process mid-run, then resume: every committed label and override survives, and
the run continues from its last checkpoint to the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from icm_app.store.sqlite_store import Store

pytestmark = pytest.mark.model
ARGS = ["run", "--sample", "sentiment", "--limit", "10", "--seed", "5", "--k-init", "4", "--iterations", "14"]


def icm(home, *args: str, wait: bool = True):
    env = {**os.environ, "ICM_HOME": str(home)}
    cmd = [sys.executable, "-m", "icm_app.cli", *args]
    if wait:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_kill_9_mid_run_then_resume_loses_nothing(icm_home):
    worker = icm(icm_home, *ARGS, wait=False)
    store = Store(icm_home / "runs.sqlite")
    deadline = time.time() + 300
    while time.time() < deadline:
        runs = store.runs()
        if runs and len(store.events(runs[0].id)) >= 5:
            break
        time.sleep(0.2)
    run_id = store.runs()[0].id
    target = next(iter(store.labels(run_id)))
    store.add_override(run_id, target, 1, who="tester")  # acknowledged: committed before we go on
    seen = len(store.events(run_id))
    while (
        len(store.events(run_id)) == seen and worker.poll() is None
    ):  # one more iteration, then kill at once
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)

    assert store.run(run_id).status == "running"  # it never got to say otherwise
    checkpoint = store.checkpoint(run_id)
    events = store.events(run_id)
    assert checkpoint["iteration"] == events[-1]["iteration"] < 14, "killed before the end"
    saved = {int(k): v for k, v in checkpoint["labels"].items()}
    pending = {o["idx"]: o["new_label"] for o in store.pending_overrides(run_id)}
    assert {i: v["label"] for i, v in store.labels(run_id).items()} == {**saved, **pending}
    assert store.overrides(run_id)[0]["new_label"] == 1

    resumed = icm(icm_home, "resume", run_id)
    assert resumed.returncode == 0, resumed.stderr
    events = store.events(run_id)  # 14 iterations, then the completion phase labels the rest
    assert [e["iteration"] for e in events if e["phase"] != "complete"] == list(range(15))
    assert [e["iteration"] for e in events] == list(range(len(events))) and events[-1]["n_labeled"] == 10
    labels = store.labels(run_id)
    assert labels[target]["label"] == 1 and labels[target]["pinned"]
    assert all(
        e["proposed"] != target for e in store.events(run_id) if e["iteration"] > checkpoint["iteration"] + 1
    )
    assert store.run(run_id).status == "finished"
