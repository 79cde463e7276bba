"""The Run page's live view, built to cost the search it shows almost nothing.

While the worker lives, one fragment (status line, metrics, charts) refreshes every PANEL_SECONDS, reading
the store only when its version changed, and only the events written since. The page itself reruns only
when the status changes (its buttons follow the status). Measured in headless Chromium: a full page rerun
costs the browser 2.5-6 s of CPU, a new 8-panel figure in a fragment 0.36 s, the same figure sent again
0.05 s; so the figure is rebuilt at most every CHART_SECONDS and sent unchanged in between. Once the worker
has ended, the page is drawn once and reads nothing more.
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
    empty_live_figure,
    events_frame,
    format_duration,
    plot_config,
    progress_figure,
)
from .eta import Eta, estimate
from .live import events_since_last_draw, phase_line, run_version

# Measured in headless Chromium beside a search on 2 cores: each refresh of the panel costs the browser
# ~0.13 s of CPU and the server ~0.05 s, a new 8-panel figure ~0.4 s each; so the panel refreshes every
# PANEL_SECONDS (on a CPU an iteration takes seconds anyway) and the figure is rebuilt every CHART_SECONDS.
PANEL_SECONDS = 10.0
CHART_SECONDS = 60.0


@dataclass
class RunState:
    """What the page shows of a run at one moment."""

    info: RunInfo
    alive: bool
    events: pd.DataFrame
    done: int  # iterations done (the completion phase's steps are not iterations)
    total: int
    n_examples: int
    has_gold: bool

    @property
    def status(self) -> str:
        return shown_status(self.info)


def read_state(store: Store, run_id: str, has_gold: bool) -> RunState:
    """The run as the page shows it; `has_gold` is read once per page run (it never changes)."""
    info = store.run(run_id)
    df = events_frame(events_since_last_draw(store, run_id, info.chain), info.search["alpha"])
    done = iterations_done(df.to_dict("records")) if not df.empty else 0
    n = store.example_count(run_id)
    return RunState(info, is_alive(info.worker_pid), df, done, info.search["iterations"], n, has_gold)


def live_view(
    store: Store, run_id: str, controls: Callable[[RunState], None], *, planned: int | None = None
) -> None:
    """Controls, live panel and worker log of the run; live only while its worker is. `planned`: the
    iterations the form holds, shown as the total until the worker starts with them."""
    version = run_version(store, run_id, is_alive)
    seen = version()
    state = read_state(store, run_id, store.has_gold(run_id))
    if planned is not None and not state.alive:
        state.total = planned
    controls(state)
    _live_panel(store, run_id, version, seen, state)
    with st.expander("Worker log", expanded=state.status in ("starting", "failed", "interrupted")):
        st.code(worker_log(run_id) or "(empty)", language=None)


def _live_panel(
    store: Store, run_id: str, version: Callable[[], Hashable], seen: Hashable, first: RunState
) -> None:
    """Status, metrics and charts; while the worker lives, refreshed in place every PANEL_SECONDS, and the
    whole page rerun when the status changes."""
    cache: dict[str, Any] = {"version": seen, "state": first, "figures": None, "built": 0.0, "at": -1}

    @st.fragment(run_every=PANEL_SECONDS if first.alive else None)
    def panel() -> None:
        now = version()
        if now != cache["version"]:
            cache.update(version=now, state=read_state(store, run_id, first.has_gold))
        if _status_changed(seen, now):
            st.rerun()  # the whole page: buttons follow the status
        state = cache["state"]
        # status and metrics vary in number; the charts keep their place, so the browser updates the drawn
        # figure in place instead of laying it out anew
        head, charts = st.container(), st.container()
        with head:
            _status(state)
        if state.events.empty or state.done == 0:
            head.info("No iterations yet: the charts fill in after the first one.")
            if state.alive:  # laid out while the model loads, not during the search
                if "empty" not in cache:
                    cache["empty"] = empty_live_figure(has_gold=state.has_gold)
                charts.plotly_chart(cache["empty"], key="progress", config=plot_config())
            return
        due = time.time() - cache["built"] >= CHART_SECONDS or not state.alive
        if cache["figures"] is None or (due and cache["at"] != len(state.events)):
            cache.update(figures=_figures(store, run_id, state), built=time.time(), at=len(state.events))
        for key, figure in cache["figures"]:
            charts.plotly_chart(figure, key=key, config=plot_config())
        if state.alive:
            st.caption(f"While the search runs: four panels, redrawn every {CHART_SECONDS:.0f} s (the line "
                       f"above every {PANEL_SECONDS:.0f} s), so the page takes little from it; all eight once "
                       "it ends.")  # fmt: skip

    panel()


def _status_changed(seen: Hashable, now: Hashable) -> bool:
    """The page's controls would change: liveness, the worker, the chain, or a status other than starting ->
    running (both show Pause and Stop; the live panel shows the difference). A new iteration is not a
    status change. The full page rerun this triggers costs the browser seconds of CPU."""
    (run_then, alive_then), (run_now, alive_now) = seen, now
    if run_then is None or run_now is None:
        return run_then != run_now
    live = {"starting": "running"}
    then, now_ = live.get(run_then[0], run_then[0]), live.get(run_now[0], run_now[0])
    return alive_then != alive_now or then != now_ or run_then[2:4] != run_now[2:4]


def _status(state: RunState) -> None:
    info, df = state.info, state.events
    left = _eta(state) if state.alive else None
    restarts = info.search.get("restarts", 1)
    where = f" · chain {info.chain + 1}/{restarts}" if restarts > 1 else ""
    if not df.empty and df["completing"].iloc[-1]:
        where += " · completion phase (labeling the rest through U)"
    text = f"{state.status} · iteration {min(state.done, state.total)}/{state.total}{where}"
    if left is not None:
        text += f" · about {format_duration(left.seconds)} left" + (
            f" (with {left.completion_steps} completion steps)" if left.completion_steps else ""
        )
    st.progress(min(state.done / max(state.total, 1), 1.0), text=text)
    if state.status == "starting":
        phase = info.phase or {}
        st.progress(
            phase["done"] / phase["total"] if phase.get("total") else 0.0, text=phase_line(info.phase)
        )
    if info.message and state.status in ("failed", "stopped", "paused"):
        st.error(info.message)
    if not df.empty and state.done:
        (_metrics_line if state.alive else _metrics)(df)


def _eta(state: RunState) -> Eta | None:
    info = state.info
    chains_left = max(info.search.get("restarts", 1) - info.chain - 1, 0)
    return estimate(state.events, iterations=state.total, n_examples=state.n_examples,
                    complete=bool(info.search.get("complete", True)), chains_left=chains_left,
                    since_last=max(time.time() - info.updated, 0.0))  # fmt: skip


def _label(value: Any) -> str:
    return "unlabeled" if value is None or value != value else str(int(value))


def _metric_values(df: pd.DataFrame) -> list[tuple[str, Any, str | None]]:
    """(name, value, help) of the run's headline numbers after its last event."""
    last = df.iloc[-1]
    accepted, evaluated, skipped = acceptance_counts(df)
    gold = last.get("gold_agreement")
    return [
        ("U(D)", f"{last['U']:.2f}", None),
        ("I(D)", int(last["I"]), None),
        ("Labeled", int(last["n_labeled"]), None),
        ("Accepted", f"{accepted}/{evaluated}", "accepted among evaluated proposals"),
        ("Skipped", skipped, "proposals equal to the current label: nothing to evaluate"),
        ("Gold agreement", "—" if gold is None or gold != gold else f"{gold:.1%}", None),
    ]


def _metrics_line(df: pd.DataFrame) -> None:
    """While the search runs: the numbers as one line (one element per refresh instead of six)."""
    st.markdown(" · ".join(f"{name} **{value}**" for name, value, _ in _metric_values(df)))
    _last_step(df)


def _metrics(df: pd.DataFrame) -> None:
    m = st.columns(6)
    for column, (name, value, help) in zip(m, _metric_values(df)):
        column.metric(name, value, help=help)
    _last_step(df)


def _last_step(df: pd.DataFrame) -> None:
    last = df.iloc[-1]
    if last.get("proposed") == last.get("proposed"):
        verdict = (
            "skipped (no change)" if last["skipped"] else ("accepted" if last["accepted"] else "rejected")
        )
        st.caption(f"Iteration {int(last['iteration'])}: example {int(last['proposed'])}, label "
                   f"{_label(last['old_label'])} → {_label(last['new_label'])}, Δ = {last['delta']:.3f}, {verdict}")  # fmt: skip


def _figures(store: Store, run_id: str, state: RunState) -> list[tuple[str, Any]]:
    """The progress dashboard, and the restart chains' U when the run has several."""
    df, info = state.events, state.info
    marks = [
        o["applied_iteration"] for o in store.overrides(run_id) if o.get("applied_iteration") is not None
    ]
    figures = [("progress", progress_figure(df, has_gold=state.has_gold, override_iterations=marks,
                                            live=state.alive))]  # fmt: skip
    if info.search.get("restarts", 1) > 1:
        kept = info.chain if info.status == "finished" else None
        figures.append(("chains", chains_figure(store.all_events(run_id), kept=kept)))
    return figures
