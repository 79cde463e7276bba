"""How ICM decides: one example's evidence, with the run's real numbers."""

import streamlit as st

from icm_app.ui.layout import page_frame

store, info = page_frame("How ICM decides")
st.info("This view is being built.")
