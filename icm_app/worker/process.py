"""Start a search in its own process (never in the Streamlit script thread) and see whether it lives.

The process is `icm resume RUN`: it reads everything from the store and writes every iteration back,
so the app, a second tab or the CLI all see the same run, and a crash loses at most one iteration.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..paths import icm_home
from ..store.sqlite_store import Store


def start_worker(store: Store, run_id: str) -> int:
    """Launch the worker for `run_id`, detached from the app; returns its pid."""
    log = icm_home() / "logs" / f"{run_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "ICM_HOME": str(store.path.parent), "PYTHONUNBUFFERED": "1"}
    store.set_status(run_id, "starting")
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "icm_app.cli", "resume", run_id],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,
        )  # fmt: skip
    store.set_worker(run_id, proc.pid)
    return proc.pid


def is_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")  # a zombie is dead


def worker_log(run_id: str, lines: int = 20) -> str:
    log = icm_home() / "logs" / f"{run_id}.log"
    if not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").replace("\r", "\n").splitlines()[-lines:])
