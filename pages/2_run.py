"""Run: model and hyper-parameters, start / pause / resume / stop, live charts with progress and ETA."""

import streamlit as st

from icm_app.core.config import SearchConfig
from icm_app.scoring.models import ScorerConfig, model_label
from icm_app.ui.charts import (
    acceptance_counts,
    chains_figure,
    eta_seconds,
    events_frame,
    format_duration,
    plot_config,
    progress_figure,
)
from icm_app.ui.forms import dataclass_inputs
from icm_app.ui.layout import page_frame
from icm_app.worker.process import can_resume, is_alive, start_worker, worker_log

store, info = page_frame("Run", status=False)  # the live progress line shows the status
run_id = info.id
if info.status in ("starting", "running") and not is_alive(info.worker_pid) and info.worker_pid:
    st.warning(
        "The worker stopped without finishing (crash or kill). Resume continues from the last checkpoint."
    )

with st.expander("Model and hyper-parameters", expanded=info.status == "created"):
    scorer_values = dataclass_inputs(
        ScorerConfig, info.scorer, prefix=f"scorer_{run_id}", skip=("trust_remote_code",)
    )
    search_values = dataclass_inputs(SearchConfig, info.search, prefix=f"search_{run_id}")
    if info.status != "created":
        st.caption("Changes apply when the run is resumed; raise iterations to continue a finished run.")

try:
    search, scorer = SearchConfig.from_dict(search_values), ScorerConfig(**{**info.scorer, **scorer_values})
except ValueError as exc:
    st.error(str(exc))
    st.stop()


def controls(info, alive: bool, done: int) -> None:
    """Start/resume when no worker lives and work is left; pause/stop while one does: side by side."""
    active = info.status in ("starting", "running") and alive
    row = st.container(horizontal=True)
    if active:
        if row.button("Pause", key="pause"):
            store.send_command(run_id, "pause")
        if row.button("Stop", key="stop"):
            store.send_command(run_id, "stop")
    elif can_resume(info, alive, done, search.iterations):
        if row.button("Start" if info.status == "created" else "Resume", type="primary", key="start"):
            store.update_config(
                run_id, search=search.to_dict(), scorer=scorer.to_dict(), model=model_label(scorer)
            )
            start_worker(store, run_id)
            st.rerun()
    elif info.status == "finished":
        st.caption("Finished: all iterations done. Raise **iterations** above to continue this run.")


def _label(value) -> str:
    return "unlabeled" if value is None or value != value else str(int(value))


@st.fragment(run_every=2)
def live() -> None:
    """Reads the store every 2 s; the search itself runs in the worker process."""
    info = store.run(run_id)
    alive = is_alive(info.worker_pid)
    df = events_frame(store.events(run_id), info.search["alpha"])
    total = info.search["iterations"]
    done = int(df["iteration"].max()) if not df.empty else 0
    controls(info, alive, done)
    eta = eta_seconds(df, total)
    status = info.status if alive or info.status not in ("starting", "running") else "interrupted"
    restarts = info.search.get("restarts", 1)
    where = f" · chain {info.chain + 1}/{restarts}" if restarts > 1 else ""
    if not df.empty and df["completing"].iloc[-1]:
        where += " · completion phase (labeling the rest through U)"
    st.progress(min(done / max(total, 1), 1.0),
                text=f"{status} · iteration {min(done, total)}/{total}{where}" + (f" · ETA {format_duration(eta)}" if eta else ""))  # fmt: skip
    if info.message and status in ("failed", "stopped", "paused"):
        st.error(info.message)
    if df.empty or done == 0:
        st.info("No iterations yet: the charts appear after the first one."
                + (" Loading the model…" if status == "starting" else ""))  # fmt: skip
    else:
        metrics(df, done)
    with st.expander("Worker log (live)", expanded=status in ("starting", "failed", "interrupted")):
        st.code(worker_log(run_id) or "(empty)", language=None)


def metrics(df, done: int) -> None:
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
        st.caption(f"Iteration {done}: example {int(last['proposed'])}, label {_label(last['old_label'])} → "
                   f"{_label(last['new_label'])}, Δ = {last['delta']:.3f}, {verdict}")  # fmt: skip
    marks = [
        o["applied_iteration"] for o in store.overrides(run_id) if o.get("applied_iteration") is not None
    ]
    figure = progress_figure(df, has_gold=df["gold_agreement"].notna().any(), override_iterations=marks)
    st.plotly_chart(figure, key="progress", config=plot_config())
    if store.run(run_id).search.get("restarts", 1) > 1:
        kept = store.run(run_id).chain if store.run(run_id).status == "finished" else None
        st.plotly_chart(
            chains_figure(store.all_events(run_id), kept=kept), key="chains", config=plot_config()
        )


live()
