"""The frame every page draws first: page config, the menu (each link keeps the open run), title, run line.

Pages are Streamlit's classic multipage files in pages/; their URLs come from the file names, and the menu
here links to the same files, so a menu click and a typed URL reach the same page.
"""

from __future__ import annotations

import streamlit as st

from ..store.sqlite_store import RunInfo, Store
from .state import get_store, open_run, resolve_run, run_link

HOME = ("streamlit_app.py", "Home", ":material/home:")
PAGES = [
    ("pages/1_data.py", "Data", ":material/description:"),
    ("pages/2_run.py", "Run", ":material/play_arrow:"),
    ("pages/3_labels.py", "Labels", ":material/label:"),
    ("pages/4_evaluate.py", "Evaluate", ":material/insights:"),
    ("pages/5_export.py", "Export", ":material/download:"),
    ("pages/6_runs.py", "Runs", ":material/folder_open:"),
    ("pages/7_review.py", "Review", ":material/fact_check:"),
    ("pages/8_compare.py", "Compare", ":material/compare_arrows:"),
    ("pages/9_replay.py", "Replay", ":material/replay:"),
    ("pages/10_how_icm_decides.py", "How ICM decides", ":material/school:"),
    ("pages/11_sweep.py", "Sweep", ":material/tune:"),
    ("pages/12_scale.py", "Scale", ":material/stacks:"),
]
PAGE = {title: path for path, title, _ in PAGES}


def page_frame(title: str, *, needs_run: bool = True, status: bool = True) -> tuple[Store, RunInfo | None]:
    """Draw the frame; returns the store and the open run (stops with a hint if `needs_run` and none)."""
    st.set_page_config(page_title=f"{title} · ICM Studio", page_icon=":material/explore:", layout="wide")
    store = get_store()
    run_id, note = resolve_run()
    if run_id:
        open_run(run_id)  # the URL shows the run on every page, so a reload or a shared link keeps it
    info = store.run(run_id) if run_id else None
    _menu(info)
    st.title(title)
    if note:
        st.warning(note)
    if needs_run and info is None:
        st.info("No run yet. Create one on the **Data** page, or with `icm run` on the command line.")
        st.page_link(PAGE["Data"], label="Go to Data", icon=":material/description:")
        st.stop()
    if info is not None and needs_run:
        st.caption(f"Run **{info.name}** · `{info.id}`" + (f" · {info.status}" if status else ""))
    return store, info


def _menu(info: RunInfo | None) -> None:
    query = run_link(info.id if info else None)
    with st.sidebar:
        for path, label, icon in [HOME, *PAGES]:
            st.page_link(path, label=label, icon=icon, query_params=query)
        st.divider()
        if info is not None:
            st.caption(f"Open run: **{info.name}**  \n`{info.id}`")
        st.caption("Internal Coherence Maximization — Wen et al. 2025")


def page_link(title: str, label: str, run_id: str | None, icon: str | None = None) -> None:
    """A link to another page that keeps `run_id` open."""
    st.page_link(PAGE[title], label=label, icon=icon, query_params=run_link(run_id))


def switch_to(title: str, run_id: str | None) -> None:
    """Go to another page with `run_id` open (st.switch_page would otherwise drop the URL's run)."""
    if run_id:
        open_run(run_id)
    st.switch_page(PAGE[title], query_params=run_link(run_id))
