"""Labels: every example with its label, confidence, flips, violations and gold; filter, search, override."""

import getpass

import streamlit as st

from icm_app.ui.layout import page_frame
from icm_app.ui.tables import FILTERS, apply_filters, audit_trail, inconsistent_pairs, labels_table

store, info = page_frame("Labels")
run_id = info.id
words = [w.strip() for w in info.task["label_words"]]
st.caption(f"1 = `{words[0]}`, 0 = `{words[1]}`")

if flash := st.session_state.pop("labels_flash", None):
    st.success(flash)
table = labels_table(store, run_id)
left, right = st.columns([2, 1])
filters = left.multiselect("Show only", FILTERS, key="filters")
search = right.text_input("Search text", key="search")
shown = apply_filters(table, filters, search)
st.dataframe(shown, hide_index=True, height=360, column_config={
    "confidence": st.column_config.NumberColumn(help="log-odds toward the current label; higher is surer", format="%.2f"),
    "chain agreement": st.column_config.NumberColumn(
        help="share of restart chains (--restarts) that gave this label; below 1: unstable", format="%.2f"),
})  # fmt: skip
st.caption(f"{len(shown)} of {len(table)} examples")

st.subheader("Override")
st.caption("An override pins the label: the running search uses it as fixed context and never changes it.")
choices = {f"1 ({words[0]})": 1, f"0 ({words[1]})": 0, "unpin (let the search decide)": None}
with st.form("override", clear_on_submit=True):
    ids = st.multiselect("Examples (idx)", table["idx"].tolist(), key=f"override_ids_{run_id}")
    label = st.radio("New label", list(choices), index=None, horizontal=True, key=f"override_label_{run_id}")
    who_col, note_col = st.columns([1, 3])
    who = who_col.text_input(
        "Your name", value=st.session_state.get("who") or getpass.getuser(), key="who_input"
    )
    note = note_col.text_input("Note (kept in the audit trail)", key=f"override_note_{run_id}")
    submitted = st.form_submit_button("Apply override", type="primary")
if submitted:
    if not ids:
        st.warning("Choose at least one example (idx) to override.")
    elif label is None:
        st.warning("Choose the new label (or unpin).")
    else:
        st.session_state["who"] = who
        for idx in ids:
            store.add_override(run_id, int(idx), choices[label], who=who.strip() or "unknown", note=note)
        # acknowledged only after the store committed it; the rerun redraws the table with the pin
        st.session_state["labels_flash"] = (
            f"Saved {len(ids)} override(s): example {', '.join(map(str, ids))} → {label}"
        )
        st.rerun()

with st.expander("Audit trail"):
    trail = audit_trail(store, run_id)
    if trail.empty:
        st.caption("No overrides yet.")
    else:
        st.dataframe(trail, hide_index=True)

with st.expander("Inconsistent pairs"):
    pairs = inconsistent_pairs(store, run_id)
    if pairs.empty:
        st.caption("No violations in the current labels.")
    else:
        st.dataframe(pairs, hide_index=True)
