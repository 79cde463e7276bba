"""Run: model and hyper-parameters, start / pause / resume / stop, live charts with progress and ETA."""

import streamlit as st

from icm_app.core.config import SearchConfig
from icm_app.scoring.models import ScorerConfig, model_label
from icm_app.ui.fields import SCORER_FIELDS, SEARCH_FIELDS
from icm_app.ui.forms import Spec, settings_form
from icm_app.ui.layout import page_frame
from icm_app.ui.run_view import RunState, live_view
from icm_app.ui.scale_view import stop_if_scale_run
from icm_app.worker.process import can_resume, is_alive, start_worker
from icm_app.worker.queue import busy_runs

store, info = page_frame("Run", status=False)  # the live progress line shows the status
run_id = info.id
stop_if_scale_run(store, info)
if info.status in ("starting", "running") and not is_alive(info.worker_pid) and info.worker_pid:
    st.warning(
        "The worker stopped without finishing (crash or kill). Resume continues from the last checkpoint."
    )

with st.expander("Model and hyper-parameters", expanded=info.status == "created"):
    server = str(st.session_state.get(f"{run_id}_model", info.scorer["model"])).startswith("openai:")
    form = settings_form([Spec(ScorerConfig, info.scorer, SCORER_FIELDS), Spec(SearchConfig, info.search, SEARCH_FIELDS)],
                         prefix=run_id, hide=() if server else ("Server",))  # fmt: skip
    if info.status != "created":
        st.caption("Changes apply when the run is resumed; raise the iterations to continue a finished run.")
if form.errors:
    st.error("Some settings above need fixing; nothing was saved, and the run starts once they are fixed.")


def controls(state: RunState) -> None:
    """Start/resume when no worker lives and work is left; pause/stop while one does: side by side."""
    info, alive = state.info, state.alive
    row = st.container(horizontal=True)
    if info.status in ("starting", "running") and alive:
        pending = store.pending_commands(run_id)
        for command, label in (("pause", "Pause"), ("stop", "Stop")):
            if "stop" not in pending and command not in pending and row.button(label, key=command):
                store.send_command(run_id, command)
                st.rerun()
        if pending:
            row.caption("Stopping: the worker stops after this iteration (or as soon as the model is loaded)…"
                        if "stop" in pending else "Pausing after this iteration…")  # fmt: skip
    elif form.configs and can_resume(info, alive, state.done, form.configs[1].iterations):
        label, busy = "Start" if info.status == "created" else "Resume", busy_runs(store, run_id)
        queue = busy and row.button(f"Queue: {label.lower()} when it ends", type="primary", key="queue")
        now = row.button(f"{label} now anyway" if busy else label, type="secondary" if busy else "primary",
                         key="start")  # fmt: skip
        if busy:
            st.warning(f"{', '.join(f'“{r.name or r.id}”' for r in busy)} is running on this machine. Two "
                       "searches share its cores and each runs at a fraction of its speed (on 2 cores, one "
                       "run's model throughput fell to 7-22 tokens/s): queue this run to start when the "
                       "runs ahead of it end.")  # fmt: skip
        if queue or now:
            scorer, search = form.configs
            store.update_config(
                run_id, search=search.to_dict(), scorer=scorer.to_dict(), model=model_label(scorer)
            )
            start_worker(store, run_id, queue=bool(queue))
            st.rerun()
    elif info.status == "finished":
        st.caption("Finished: all iterations done. Raise the **iterations** above to continue this run.")
    if info.status == "finished" and (check := store.latest_evaluation(run_id, "zero_shot_check")):
        if check["warn"]:  # the gold-free warning: a trivial baseline labels these examples otherwise
            st.warning(check["message"], icon=":material/balance:")


live_view(store, run_id, controls, planned=form.configs[1].iterations if form.configs else None)
