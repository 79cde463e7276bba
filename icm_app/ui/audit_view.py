"""The audit views the Labels and Review pages share: the audit trail and one example's label history."""

from __future__ import annotations

import streamlit as st

from ..io.audit import audit_csv, label_history_rows
from ..store.sqlite_store import Store
from .tables import audit_trail, history_table


def label_history(store: Store, run_id: str, idx: int) -> None:
    """Every change of the example's label, with its cause."""
    st.markdown("**Label history**")
    history = label_history_rows(store, run_id, idx)
    if history:
        st.dataframe(history_table(history), hide_index=True)
    else:
        st.caption("No recorded changes (runs stored before label history was kept have none).")


def audit_trail_section(store: Store, run_id: str) -> None:
    """Every override and restore, who, when and why; downloadable as CSV."""
    trail = audit_trail(store, run_id)
    if trail.empty:
        st.caption("No overrides yet.")
    else:
        st.dataframe(trail, hide_index=True)
    st.download_button("Download the audit trail (CSV)", audit_csv(store, run_id), f"audit-{run_id}.csv",
                       mime="text/csv", key="audit_csv")  # fmt: skip
