"""Replay: a run's labels at any iteration."""

import streamlit as st

from icm_app.ui.layout import page_frame

store, info = page_frame("Replay")
st.info("This view is being built.")
