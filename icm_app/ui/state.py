"""What the pages share: the store (one per process) and the open run, kept in the URL and the session.

The open run is `?run=ID` on every page: every menu link and page switch carries it, and the session keeps
a copy for a link that lacks it. A run id that no longer exists falls back to the newest run, with a note.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ..paths import icm_home
from ..store.sqlite_store import RunNotFoundError, Store

RUN_PARAM = "run"
SESSION_RUN = "icm_open_run"


@st.cache_resource
def _store_at(home: str) -> Store:
    return Store(Path(home) / "runs.sqlite")


def get_store() -> Store:
    """One SQLite connection per data folder and process; WAL lets the worker write while pages read."""
    return _store_at(str(icm_home()))


def resolve_run() -> tuple[str | None, str | None]:
    """(open run id, note): the URL's run, else this session's, else the newest; a note if one was unknown."""
    store, note = get_store(), None
    for asked in (st.query_params.get(RUN_PARAM), st.session_state.get(SESSION_RUN)):
        if not asked:
            continue
        try:
            return store.run(asked).id, note
        except RunNotFoundError:
            note = f"There is no run `{asked}` (deleted?); showing the newest run instead."
    runs = store.runs()
    return (runs[0].id if runs else None), note


def open_run(run_id: str) -> None:
    """Make `run_id` the open run for this page's URL and the rest of the session."""
    st.session_state[SESSION_RUN] = run_id
    if st.query_params.get(RUN_PARAM) != run_id:
        st.query_params[RUN_PARAM] = run_id


def forget_run(run_id: str) -> None:
    """After a delete: the URL and the session no longer point at it."""
    if st.session_state.get(SESSION_RUN) == run_id:
        del st.session_state[SESSION_RUN]
    if st.query_params.get(RUN_PARAM) == run_id:
        del st.query_params[RUN_PARAM]


def run_link(run_id: str | None) -> dict[str, str]:
    """Query parameters for a link or page switch that keeps `run_id` open."""
    return {RUN_PARAM: run_id} if run_id else {}
