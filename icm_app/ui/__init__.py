"""Helpers for the Streamlit pages: store access, current run, chart and table builders (no st.* in threads)."""
