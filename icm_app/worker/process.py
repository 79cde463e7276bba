"""Start background processes (the search worker, evaluation, fine-tuning), see whether they live, read logs.

Every background job is an `icm` command in its own session, logging to $ICM_HOME/logs, so the app, a second
tab or the CLI all see the same run; the pages only call these functions (one launcher, one log reader).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..paths import icm_home
from ..store.sqlite_store import RunInfo, Store

# job kind -> (icm subcommand, the kind its result is stored under in the store's evaluations)
JOBS = {
    "eval": ("eval", "icl"),
    "finetune": ("finetune", "finetune"),
    "baselines": ("baselines", "baselines"),
}


def log_path(name: str) -> Path:
    log = icm_home() / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    return log


def launch(
    args: list[str], log: Path, *, home: Path | None = None, append: bool = True, module: str = "icm_app.cli"
) -> int:
    """Run `icm ARGS...` (or `python -m MODULE ARGS...`) detached (own session, so the app's exit does not
    kill it); returns its pid."""
    env = {**os.environ, "ICM_HOME": str(home or icm_home()), "PYTHONUNBUFFERED": "1"}
    with open(log, "ab" if append else "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,
        )  # fmt: skip
    return proc.pid


def start_worker(store: Store, run_id: str, *, queue: bool = False) -> int:
    """Launch the search worker (`icm resume RUN`) for `run_id`; returns its pid. With `queue`, the worker
    waits for the runs already using the machine to end (worker/queue.py)."""
    store.clear_commands(run_id)  # a pause sent to a worker that had already ended does not pause this one
    store.set_status(run_id, "starting")
    pid = launch(
        ["resume", run_id, *(["--queue"] if queue else [])], log_path(run_id), home=store.path.parent
    )
    store.set_worker(run_id, pid)
    return pid


def start_job(kind: str, run_id: str, args: list[str]) -> int:
    """Launch an evaluation or fine-tuning job for `run_id` (`icm eval|finetune RUN ARGS...`)."""
    command, _ = JOBS[kind]
    pid = launch([command, run_id, *args], log_path(f"{kind}-{run_id}"), append=False)
    record = {"pid": pid, "started": time.time(), "args": args}
    log_path(f"{kind}-{run_id}").with_suffix(".json").write_text(json.dumps(record))
    return pid


def job_state(store: Store, kind: str, run_id: str) -> dict[str, Any] | None:
    """The last job of `kind` for the run: state running / finished / failed, its args and log tail."""
    record_file = log_path(f"{kind}-{run_id}").with_suffix(".json")
    if not record_file.exists():
        return None
    record = json.loads(record_file.read_text())
    result = store.latest_evaluation(run_id, JOBS[kind][1])
    if is_alive(record["pid"]):
        state = "running"
    elif result is not None and result["at"] >= record["started"]:
        state = "finished"
    else:
        state = "failed"
    return {**record, "state": state, "log": read_log(log_path(f"{kind}-{run_id}"))}


def start_explain(store: Store, run_id: str, idx: int) -> int:
    """Launch the "How ICM decides" job (`python -m icm_app.worker.explain RUN IDX`); returns its pid."""
    log = log_path(f"explain-{run_id}")
    pid = launch(
        [run_id, str(idx)], log, home=store.path.parent, append=False, module="icm_app.worker.explain"
    )
    log.with_suffix(".json").write_text(json.dumps({"pid": pid, "started": time.time(), "idx": idx}))
    return pid


def explain_state(store: Store, run_id: str) -> dict[str, Any] | None:
    """The run's last explain job: its example (idx), state running / finished / failed, and log tail."""
    from .explain import result_kind

    log = log_path(f"explain-{run_id}")
    if not log.with_suffix(".json").exists():
        return None
    record = json.loads(log.with_suffix(".json").read_text())
    result = store.latest_evaluation(run_id, result_kind(record["idx"]))
    if is_alive(record["pid"]):
        state = "running"
    elif result is not None and result["at"] >= record["started"] and result.get("state") == "finished":
        state = "finished"
    else:
        state = "failed"
    return {**record, "state": state, "log": read_log(log)}


def is_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split()[2] != "Z"  # a zombie is dead
    except OSError:
        return not stat.parent.exists()


def read_log(log: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log; progress bars' carriage returns count as line ends."""
    if not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").replace("\r", "\n").strip().splitlines()[-lines:])


def worker_log(run_id: str, lines: int = 20) -> str:
    return read_log(log_path(run_id), lines)


def shown_status(info: RunInfo) -> str:
    """The stored status, or "interrupted" for a starting or running run whose worker is gone (killed or
    crashed; it never wrote an ending): the one rule for the Run and Runs pages and `icm runs`."""
    if info.status in ("starting", "running") and not is_alive(info.worker_pid):
        return "interrupted"
    return info.status


def iterations_done(events: list[dict[str, Any]]) -> int:
    """Search iterations done: the completion phase's steps, which label the rest after them, are not
    iterations (a finished 10-iteration run reads 10 of 10, however many steps completion took)."""
    return max((e["iteration"] for e in events if e.get("phase") != "complete"), default=0)


def can_resume(info: RunInfo, alive: bool, done: int, iterations: int | None) -> bool:
    """Resume (or start) is offered when no worker lives and there is work left: the same rule on every page.

    Work is left in any run not finished (its completion phase or later restart chains run past
    `iterations`), or in a finished one whose iteration budget was raised."""
    if alive:
        return False
    # iterations None: the automatic budget, already spent by a finished run
    return info.status != "finished" or (iterations is not None and done < iterations)
