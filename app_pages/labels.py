"""Labels: every example with its label, confidence, flips, violations and gold; filter, search, override."""

import streamlit as st

from icm_app.ui.state import get_store, require_run
from icm_app.ui.tables import FILTERS, apply_filters, inconsistent_pairs, labels_table

store = get_store()
run_id = require_run()
info = store.run(run_id)
words = [w.strip() for w in info.task["label_words"]]
st.title("Labels")
st.caption(f"`{info.id}` · {info.name} · 1 = `{words[0]}`, 0 = `{words[1]}`")

if flash := st.session_state.pop("labels_flash", None):
    st.success(flash)
table = labels_table(store, run_id)
left, right = st.columns([2, 1])
filters = left.multiselect("Show only", FILTERS, key="filters")
search = right.text_input("Search text", key="search")
shown = apply_filters(table, filters, search)
st.dataframe(shown, hide_index=True, height=360, column_config={
    "confidence": st.column_config.NumberColumn(help="log-odds toward the current label; higher is surer", format="%.2f"),
})  # fmt: skip
st.caption(f"{len(shown)} of {len(table)} examples")

st.subheader("Override")
st.caption("An override pins the label: the running search uses it as fixed context and never changes it.")
with st.form("override"):
    ids = st.multiselect("Examples (idx)", table["idx"].tolist(), key="override_ids")
    label = st.radio(
        "New label", [f"1 ({words[0]})", f"0 ({words[1]})", "unpin"], horizontal=True, key="override_label"
    )
    note = st.text_input("Note (kept in the audit trail)", key="override_note")
    submitted = st.form_submit_button("Apply override", type="primary")
if submitted and ids:
    value = None if label == "unpin" else int(label[0])
    for idx in ids:
        store.add_override(run_id, int(idx), value, who="app", note=note)
    # acknowledged only after the store committed it; the rerun redraws the table with the pin
    st.session_state["labels_flash"] = f"Saved {len(ids)} override(s): {', '.join(map(str, ids))} → {label}"
    st.rerun()

with st.expander("Audit trail"):
    trail = store.overrides(run_id)
    if trail:
        st.dataframe(trail, hide_index=True)
    else:
        st.caption("No overrides yet.")

with st.expander("Inconsistent pairs"):
    pairs = inconsistent_pairs(store, run_id)
    if pairs.empty:
        st.caption("No violations in the current labels.")
    else:
        st.dataframe(pairs, hide_index=True)
