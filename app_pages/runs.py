"""Runs: every stored run with status, size, model, final U and gold agreement; open, resume, delete."""

import pandas as pd
import streamlit as st

from icm_app.ui.state import get_store, open_run
from icm_app.worker.process import is_alive, start_worker

store = get_store()
st.title("Runs")
runs = store.runs()
if not runs:
    st.info("No runs yet. Create one on the **Data** page, or with `icm run` on the command line.")
    st.stop()

rows = []
for r in runs:
    events = store.events(r.id)
    last = events[-1] if events else {}
    rows.append({"id": r.id, "name": r.name, "status": r.status, "examples": len(store.examples(r.id)),
                 "labeled": last.get("n_labeled"), "iteration": last.get("iteration"), "U": last.get("U"),
                 "gold agreement": last.get("gold_agreement"), "model": r.model})  # fmt: skip
st.dataframe(pd.DataFrame(rows), hide_index=True)

chosen = st.selectbox(
    "Run", [r.id for r in runs], format_func=lambda i: f"{i} · {store.run(i).name}", key="chosen"
)
info = store.run(chosen)
cols = st.columns(3)
if cols[0].button("Open", key="open"):
    open_run(chosen)
    st.switch_page("app_pages/run.py")
if cols[1].button("Resume", key="resume", disabled=is_alive(info.worker_pid) or info.status == "finished"):
    open_run(chosen)
    start_worker(store, chosen)
    st.switch_page("app_pages/run.py")
confirm = cols[2].checkbox("Confirm delete", key="confirm_delete")
if cols[2].button("Delete", key="delete", disabled=not confirm or is_alive(info.worker_pid)):
    store.delete_run(chosen)
    st.query_params.clear()
    st.rerun()
