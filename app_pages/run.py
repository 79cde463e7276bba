"""Run: model and hyper-parameters, start / pause / resume / stop, live charts with progress and ETA."""

import time

import streamlit as st

from icm_app.core.config import SearchConfig
from icm_app.scoring.models import ScorerConfig, model_label
from icm_app.ui.charts import eta_seconds, events_frame, progress_figure
from icm_app.ui.forms import dataclass_inputs
from icm_app.ui.state import get_store, require_run
from icm_app.worker.process import is_alive, start_worker, worker_log

store = get_store()
run_id = require_run()
info = store.run(run_id)
st.title("Run")
st.caption(f"`{info.id}` · {info.name}")
if info.status in ("starting", "running") and not is_alive(info.worker_pid) and info.worker_pid:
    st.warning(
        "The worker stopped without finishing (crash or kill). Resume continues from the last checkpoint."
    )

with st.expander("Model and hyper-parameters", expanded=info.status == "created"):
    scorer_values = dataclass_inputs(ScorerConfig, info.scorer, prefix="scorer", skip=("trust_remote_code",))
    search_values = dataclass_inputs(SearchConfig, info.search, prefix="search")
    if info.status != "created":
        st.caption("Changes apply when the run is resumed.")

try:
    search, scorer = SearchConfig.from_dict(search_values), ScorerConfig(**{**info.scorer, **scorer_values})
except ValueError as exc:
    st.error(str(exc))
    st.stop()


def controls(info, alive: bool) -> None:
    """Start/resume when no worker lives; pause/stop while one does. Inside the fragment, so they follow it."""
    active = info.status in ("starting", "running") and alive
    buttons = st.columns(4)
    if not active and buttons[0].button(
        "Start" if info.status == "created" else "Resume", type="primary", key="start"
    ):
        store.update_config(
            run_id, search=search.to_dict(), scorer=scorer.to_dict(), model=model_label(scorer)
        )
        start_worker(store, run_id)
        st.rerun()
    if active and buttons[1].button("Pause", key="pause"):
        store.send_command(run_id, "pause")
    if active and buttons[2].button("Stop", key="stop"):
        store.send_command(run_id, "stop")


def _label(value) -> str:
    return "unlabeled" if value is None or value != value else str(int(value))


@st.fragment(run_every=2)
def live() -> None:
    """Reads the store every 2 s; the search itself runs in the worker process."""
    info = store.run(run_id)
    alive = is_alive(info.worker_pid)
    controls(info, alive)
    df = events_frame(store.events(run_id), info.search["alpha"])
    total = info.search["iterations"]
    done = int(df["iteration"].max()) if not df.empty else 0
    eta = eta_seconds(df, total)
    status = (
        info.status
        if is_alive(info.worker_pid) or info.status not in ("starting", "running")
        else "interrupted"
    )
    st.progress(min(done / max(total, 1), 1.0),
                text=f"{status} · iteration {done}/{total}" + (f" · ETA {time.strftime('%M:%S', time.gmtime(eta))}" if eta else ""))  # fmt: skip
    if info.message and status in ("failed", "stopped"):
        st.error(info.message)
    if df.empty:
        st.info("No iterations yet." + (" Loading the model…" if status == "starting" else ""))
        return
    last = df.iloc[-1]
    m = st.columns(5)
    m[0].metric("U(D)", f"{last['U']:.2f}")
    m[1].metric("I(D)", int(last["I"]))
    m[2].metric("Labeled", int(last["n_labeled"]))
    m[3].metric("Accepted", f"{int(df['accepted'][df['iteration'] > 0].sum())}/{done}")
    gold = last.get("gold_agreement")
    m[4].metric("Gold agreement", "—" if gold is None or gold != gold else f"{gold:.1%}")
    if done > 0 and last.get("proposed") == last.get("proposed"):
        verdict = (
            "skipped (no change)" if last["skipped"] else ("accepted" if last["accepted"] else "rejected")
        )
        st.caption(f"Iteration {done}: example {int(last['proposed'])}, label {_label(last['old_label'])} → "
                   f"{_label(last['new_label'])}, Δ = {last['delta']:.3f}, {verdict}")  # fmt: skip
    st.plotly_chart(progress_figure(df, has_gold=df["gold_agreement"].notna().any()), key="progress")


live()
with st.expander("Worker log"):
    st.code(worker_log(run_id) or "(empty)", language=None)
