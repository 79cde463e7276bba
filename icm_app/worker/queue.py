"""A run that waits for the machine: two searches on 2 CPU cores each run at a fraction of their speed
(measured: a run's model throughput fell to 7-22 tokens/s beside a second one), so a run can be queued to
start once the runs ahead of it have ended.

The queue lives in the store: a queued run's worker is alive, its status is "starting" and its phase says
"queued", since the time it joined. It waits while another run's worker lives that is not queued, or that
joined the queue before it; Stop ends the wait (the phase reporter raises StopRequested).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..scoring.bundled import Report
from ..store.sqlite_store import RunInfo, Store
from .process import is_alive

QUEUED = "queued"


def busy_runs(store: Store, run_id: str, *, alive: Callable[[int | None], bool] = is_alive) -> list[RunInfo]:
    """Other runs whose worker lives: the ones that would share the machine with `run_id`."""
    return [
        r for r in store.runs()
        if r.id != run_id and r.status in ("starting", "running") and alive(r.worker_pid)
    ]  # fmt: skip


def ahead_of(store: Store, run_id: str, joined: float, **kw) -> list[RunInfo]:
    """The live runs this one waits for: every one not queued, and those queued before it."""
    return [r for r in busy_runs(store, run_id, **kw) if not _queued(r) or _queued(r) < joined]


def wait_for_turn(store: Store, run_id: str, report: Report, *, poll: float = 2.0, **kw) -> float:
    """Block until no run is ahead of this one; returns the seconds waited. `report` is the worker's phase
    reporter (it writes the phase, with the time it started, and raises StopRequested on Stop)."""
    report(QUEUED, None, None)
    joined = (store.run(run_id).phase or {}).get("started", time.time())
    while ahead := ahead_of(store, run_id, joined, **kw):
        report(f"{QUEUED}: waiting for {', '.join(f'“{r.name or r.id}”' for r in ahead)} to end", None, None)
        time.sleep(poll)
    return time.time() - joined


def _queued(info: RunInfo) -> float | None:
    """When the run joined the queue, if it is waiting in it."""
    phase = info.phase or {}
    return phase.get("started") if str(phase.get("text", "")).startswith(QUEUED) else None
