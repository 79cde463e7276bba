"""Compare: two or more runs over the same examples side by side."""

import streamlit as st

from icm_app.ui.layout import page_frame

store, info = page_frame("Compare")
st.info("This view is being built.")
