"""What the pages share: the store (one per process), the current run (in the URL), worker control."""

from __future__ import annotations

import streamlit as st

from ..paths import icm_home
from ..store.sqlite_store import Store

RUN_PARAM = "run"


@st.cache_resource
def _store_at(home: str) -> Store:
    return Store()


def get_store() -> Store:
    """One SQLite connection per data folder and process; WAL lets the worker write while pages read."""
    return _store_at(str(icm_home()))


def current_run_id() -> str | None:
    """The run being viewed lives in the URL, so it survives a reload and can be shared between tabs."""
    run_id = st.query_params.get(RUN_PARAM)
    if run_id:
        return run_id
    runs = get_store().runs()
    return runs[0].id if runs else None


def open_run(run_id: str) -> None:
    st.query_params[RUN_PARAM] = run_id


def require_run() -> str:
    """Guard for pages that need a run: an info box and stop when there is none."""
    run_id = current_run_id()
    if run_id is None:
        st.info("No run yet. Create one on the **Data** page.")
        st.stop()
    return run_id  # type: ignore[return-value]
