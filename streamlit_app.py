"""ICM Studio in the browser: routes to the pages and shows which run is open."""

import streamlit as st

from icm_app.ui.state import current_run_id, get_store

st.set_page_config(page_title="ICM Studio", page_icon=":material/explore:", layout="wide")

pages = [
    st.Page("app_pages/data.py", title="Data", icon=":material/description:", default=True),
    st.Page("app_pages/run.py", title="Run", icon=":material/play_arrow:"),
    st.Page("app_pages/labels.py", title="Labels", icon=":material/label:"),
    st.Page("app_pages/evaluate.py", title="Evaluate", icon=":material/insights:"),
    st.Page("app_pages/export.py", title="Export", icon=":material/download:"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/folder_open:"),
]
navigation = st.navigation(pages)
with st.sidebar:
    run_id = current_run_id()
    if run_id:
        info = get_store().run(run_id)
        st.caption(f"Open run: **{info.name}**  \n`{info.id}`")
    st.caption("Internal Coherence Maximization — Wen et al. 2025")
navigation.run()
