"""Live pages that cost the search almost nothing: poll one cheap value while a job lives, redraw only when
it changes, and read only the events written since the last draw.

A page draws once from the store. While a worker (or an evaluation job) is alive it also places a
`rerun_when_changed` poller: a fragment with no elements that runs one small query every few seconds and
reruns the page only when the answer changes. A finished, paused or failed run gets no poller: after its
first draw the page reads nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

import streamlit as st

from ..store.sqlite_store import Store

# Every refresh of a live panel costs ~0.1 s of browser CPU however small the panel (Streamlit's frontend
# redraws per script run) and some server CPU; measured with scripts/ui_overhead.py.
POLL_SECONDS = 5.0


def rerun_when_changed(
    version: Callable[[], Hashable], seen: Hashable, *, every: float = POLL_SECONDS
) -> None:
    """Rerun the page once `version()` differs from `seen` (its value read *before* this draw read the
    store, so no change slips between the two). Call it only while something is live: an idle page places
    no timer at all."""

    @st.fragment(run_every=every)
    def poll() -> None:
        if version() != seen:
            st.rerun()

    poll()


def run_version(store: Store, run_id: str, alive: Callable[[int | None], bool]) -> Callable[[], Hashable]:
    """The run's store version plus whether its worker lives (a killed worker changes nothing stored)."""

    def version() -> Hashable:
        v = store.version(run_id)
        return (v, alive(v[3]) if v else False)

    return version


def events_since_last_draw(store: Store, run_id: str, chain: int) -> list[dict[str, Any]]:
    """The chain's events, by iteration, reading from the store only those written since this session's
    last draw (kept per run and chain in the session: a cache, nothing the run depends on)."""
    key = f"icm_events_{run_id}_{chain}"
    seq, rows = st.session_state.get(key, (0, {}))
    new = store.events_since(run_id, chain, seq)
    if new:
        rows = {**rows, **{r["iteration"]: r for r in new}}
        seq = max(r["seq"] for r in new)
        st.session_state[key] = (seq, rows)
    return [rows[i] for i in sorted(rows)]


def phase_line(phase: dict[str, Any] | None, now: float | None = None) -> str:
    """What a starting worker is doing, for the status line: its phase, step counts, time since it started."""
    if not phase:
        return "starting the worker…"
    elapsed = int((now or time.time()) - phase.get("started", now or time.time()))
    steps = f" {phase['done']}/{phase['total']}" if phase.get("total") else ""
    return f"{phase['text']}{steps} · {elapsed // 60}:{elapsed % 60:02d} elapsed"


def job_watch(
    state: Callable[[], dict[str, Any] | None],
    show: Callable[[dict[str, Any] | None], None],
    *,
    every: float = POLL_SECONDS,
) -> None:
    """A background job's panel (`show(state())`): while the job runs, only this panel refreshes, every
    `every` s, and the page reruns once the job has ended (to draw its results); otherwise it draws once."""
    running = (state() or {}).get("state") == "running"

    @st.fragment(run_every=every if running else None)
    def panel() -> None:
        now = state()
        if running and (now or {}).get("state") != "running":
            st.rerun()
        show(now)

    panel()
