"""The Run page's live view, built to cost the search it shows almost nothing.

While the worker lives, a light status panel (progress, phase, metrics: a few elements) refreshes every
POLL_SECONDS, reading the store only when its version changed, and only the events written since; the heavy
charts are redrawn by a page rerun at most every CHART_SECONDS, and at once when the status changes. Once
the worker has ended, the page is drawn once and reads nothing more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from ..store.sqlite_store import RunInfo, Store
from ..worker.process import is_alive, iterations_done, shown_status, worker_log
from .charts import (
    acceptance_counts,
    chains_figure,
    eta_seconds,
    events_frame,
    format_duration,
    plot_config,
    progress_figure,
)
from .live import POLL_SECONDS, events_since_last_draw, phase_line, run_version

# A chart redraw costs ~0.5 s of server CPU (building the 8-panel figure) and 2.5-3 s of a headless browser's
# (measured: a Run page load 4-6.6 s of browser CPU, a page without charts 1.4-2 s), taken from the search on
# a 2-core laptop; the status panel above the charts stays live every POLL_SECONDS.
CHART_SECONDS = 60.0


@dataclass
class RunState:
    """What the page shows of a run at one moment."""

    info: RunInfo
    alive: bool
    events: pd.DataFrame
    done: int  # iterations done (the completion phase's steps are not iterations)
    total: int

    @property
    def status(self) -> str:
        return shown_status(self.info)


def read_state(store: Store, run_id: str) -> RunState:
    info = store.run(run_id)
    df = events_frame(events_since_last_draw(store, run_id, info.chain), info.search["alpha"])
    done = iterations_done(df.to_dict("records")) if not df.empty else 0
    return RunState(info, is_alive(info.worker_pid), df, done, info.search["iterations"])


def live_view(store: Store, run_id: str, controls: Callable[[RunState], None]) -> None:
    """Controls, status panel, charts and worker log of the run; live only while its worker is."""
    version = run_version(store, run_id, is_alive)
    seen = version()
    state = read_state(store, run_id)
    controls(state)
    _status_panel(store, run_id, version, seen, state, drawn=time.time(), charted=state.done > 0)
    if state.events.empty or state.done == 0:
        st.info("No iterations yet: the charts appear after the first one.")
    else:
        _charts(store, run_id, state)
    with st.expander("Worker log", expanded=state.status in ("starting", "failed", "interrupted")):
        st.code(worker_log(run_id) or "(empty)", language=None)


def _status_panel(
    store: Store,
    run_id: str,
    version: Callable[[], Hashable],
    seen: Hashable,
    first: RunState,
    *,
    drawn: float,
    charted: bool,
) -> None:
    """The live status; reruns the page on a status change, for the first chart, or CHART_SECONDS after the
    last draw when there is something new."""
    cache: dict[str, Any] = {"version": seen, "state": first}

    @st.fragment(run_every=POLL_SECONDS if first.alive else None)
    def panel() -> None:
        now = version()
        if now != cache["version"]:
            cache.update(version=now, state=read_state(store, run_id))
        state = cache["state"]
        first_chart = not charted and state.done > 0
        if (
            _status_changed(seen, now)
            or first_chart
            or (now != seen and time.time() - drawn >= CHART_SECONDS)
        ):
            st.rerun()  # the whole page: buttons follow the status, the charts get the new iterations
        _status(state)

    panel()


def _status_changed(seen: Hashable, now: Hashable) -> bool:
    """Status, phase-free fields or liveness differ (a new iteration alone is not a status change)."""
    (run_then, alive_then), (run_now, alive_now) = seen, now
    if run_then is None or run_now is None:
        return run_then != run_now
    return alive_then != alive_now or run_then[0] != run_now[0] or run_then[2:4] != run_now[2:4]


def _status(state: RunState) -> None:
    info, df = state.info, state.events
    eta = eta_seconds(df, state.total) if state.alive else None
    restarts = info.search.get("restarts", 1)
    where = f" · chain {info.chain + 1}/{restarts}" if restarts > 1 else ""
    if not df.empty and df["completing"].iloc[-1]:
        where += " · completion phase (labeling the rest through U)"
    text = f"{state.status} · iteration {min(state.done, state.total)}/{state.total}{where}"
    st.progress(min(state.done / max(state.total, 1), 1.0), text=text + (f" · ETA {format_duration(eta)}" if eta else ""))  # fmt: skip
    if state.status == "starting":
        phase = info.phase or {}
        st.progress(
            phase["done"] / phase["total"] if phase.get("total") else 0.0, text=phase_line(info.phase)
        )
    if info.message and state.status in ("failed", "stopped", "paused"):
        st.error(info.message)
    if not df.empty and state.done:
        _metrics(df, state.done)


def _label(value: Any) -> str:
    return "unlabeled" if value is None or value != value else str(int(value))


def _metrics(df: pd.DataFrame, done: int) -> None:
    last = df.iloc[-1]
    accepted, evaluated, skipped = acceptance_counts(df)
    m = st.columns(6)
    m[0].metric("U(D)", f"{last['U']:.2f}")
    m[1].metric("I(D)", int(last["I"]))
    m[2].metric("Labeled", int(last["n_labeled"]))
    m[3].metric("Accepted", f"{accepted}/{evaluated}", help="accepted among evaluated proposals")
    m[4].metric("Skipped", skipped, help="proposals equal to the current label: nothing to evaluate")
    gold = last.get("gold_agreement")
    m[5].metric("Gold agreement", "—" if gold is None or gold != gold else f"{gold:.1%}")
    if last.get("proposed") == last.get("proposed"):
        verdict = (
            "skipped (no change)" if last["skipped"] else ("accepted" if last["accepted"] else "rejected")
        )
        st.caption(f"Iteration {int(last['iteration'])}: example {int(last['proposed'])}, label "
                   f"{_label(last['old_label'])} → {_label(last['new_label'])}, Δ = {last['delta']:.3f}, {verdict}")  # fmt: skip


@st.fragment  # its own fragment: the status panel's refreshes leave the charts' elements alone (cheaper)
def _charts(store: Store, run_id: str, state: RunState) -> None:
    df, info = state.events, state.info
    marks = [
        o["applied_iteration"] for o in store.overrides(run_id) if o.get("applied_iteration") is not None
    ]
    figure = progress_figure(df, has_gold=df["gold_agreement"].notna().any(), override_iterations=marks)
    st.plotly_chart(figure, key="progress", config=plot_config())
    if info.search.get("restarts", 1) > 1:
        kept = info.chain if info.status == "finished" else None
        st.plotly_chart(
            chains_figure(store.all_events(run_id), kept=kept), key="chains", config=plot_config()
        )
    if state.alive:
        st.caption(f"Charts redraw every {CHART_SECONDS:.0f} s while the search runs (the line above, every "
                   f"{POLL_SECONDS:.0f} s), so the page takes almost nothing from it.")  # fmt: skip
