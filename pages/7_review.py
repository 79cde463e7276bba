"""Review: the most suspect labels first, one card at a time, labeled by keyboard."""

import streamlit as st

from icm_app.ui.layout import page_frame

store, info = page_frame("Review")
st.info("This view is being built.")
