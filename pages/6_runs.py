"""Runs: every stored run with status, size, model, final U and gold agreement; open, resume, delete."""

import streamlit as st

from icm_app.ui.layout import page_frame, switch_to
from icm_app.ui.state import forget_run
from icm_app.ui.tables import runs_table
from icm_app.worker.process import can_resume, is_alive, start_worker

store, current = page_frame("Runs", needs_run=False)
if flash := st.session_state.pop("runs_flash", None):
    st.success(flash)
runs = store.runs()
if not runs:
    st.info("No runs yet. Create one on the **Data** page, or with `icm run` on the command line.")
    st.stop()

table = runs_table(store, runs)
st.dataframe(table, hide_index=True)

ids = [r.id for r in runs]
names = {r.id: r.name for r in runs}
# keyed by the list of runs: after a delete the browser's selector cannot keep showing the deleted run
# (it did, while Open then opened another)
chosen = st.selectbox("Run to open, resume or delete", ids, index=ids.index(current.id) if current and current.id in ids else 0,
                      format_func=lambda i: f"{i} · {names[i]}", key=f"chosen_{'_'.join(ids)}")  # fmt: skip
info = store.run(chosen)
alive = is_alive(info.worker_pid)
done = int(table.loc[table["id"] == chosen, "iteration"].fillna(0).iloc[0])
row = st.container(horizontal=True, vertical_alignment="center")
if row.button("Open", key="open", type="primary"):
    switch_to("Run", chosen)
if row.button("Resume", key="resume", disabled=not can_resume(info, alive, done, info.search["iterations"]),
              help="Continue from the last checkpoint (a finished run: raise its iterations on the Run page)"):  # fmt: skip
    start_worker(store, chosen)
    switch_to("Run", chosen)
confirm = row.checkbox("Confirm delete", key=f"confirm_delete_{chosen}")  # a fresh box for every run
if row.button("Delete", key="delete", disabled=not confirm or alive):
    store.delete_run(chosen)
    forget_run(chosen)
    st.session_state["runs_flash"] = f"Deleted run `{chosen}` ({info.name})."
    st.rerun()
if alive:
    st.caption("A worker is running this run: pause or stop it on the Run page before deleting.")
