"""Sweep: runs over α, K, the start and seeds on the open run's data; gold agreement and U per setting with
the spread across seeds; the parts live in icm_app/ui/sweep_view.py."""

import streamlit as st

from icm_app.ui import sweep_view as view
from icm_app.ui.layout import page_frame

store, info = page_frame("Sweep")
st.subheader("New sweep")
view.form(store, info)
view.progress(info)
st.subheader("Sweeps")
view.results(store)
