"""Scale: the paper's Algorithm 3 for data that does not fit a context (rounds of fold fine-tunes relabeling
the fold each did not see); the parts live in icm_app/ui/scale_view.py."""

import streamlit as st

from icm_app.ui import scale_view as view
from icm_app.ui.layout import page_frame

store, info = page_frame("Scale", needs_run=False)
st.subheader("New scalable-ICM job")
view.form(store, info)
st.subheader("Jobs")
view.jobs(store, info)
