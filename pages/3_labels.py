"""Labels: every example with its label, confidence, flips, violations and gold; filter, search, override."""

import getpass

import streamlit as st

from icm_app.ui.audit_view import audit_trail_section, label_history
from icm_app.ui.layout import page_frame
from icm_app.ui.tables import FILTERS, apply_filters, inconsistent_pairs, labels_table

store, info = page_frame("Labels")
run_id = info.id
words = [w.strip() for w in info.task["label_words"]]
st.caption(f"1 = `{words[0]}`, 0 = `{words[1]}`")

if flash := st.session_state.pop("labels_flash", None):
    st.success(flash)
table = labels_table(store, run_id)
unlabeled = bool(table["label"].isna().all())
if unlabeled:
    st.info("No labels yet: start the run on the **Run** page. Labels you pin below before it starts are "
            "fixed context for the search.")  # fmt: skip
left, right = st.columns([2, 1])
filters = left.multiselect("Show only", FILTERS, key="filters", disabled=unlabeled)
search = right.text_input("Search text", key="search")
shown = apply_filters(table, filters, search)
st.dataframe(shown, hide_index=True, height=360, column_config={
    "confidence": st.column_config.NumberColumn(help="log-odds toward the current label; higher is surer", format="%.2f"),
    "suspicion": st.column_config.NumberColumn(
        help="how likely the label is wrong, from the model's evidence, flips, rules and chains (no gold); "
             "the Review page shows the most suspect first", format="%.2f"),
    "chain agreement": st.column_config.NumberColumn(
        help="share of restart chains (--restarts) that gave this label; below 1: unstable", format="%.2f"),
})  # fmt: skip
st.caption(f"{len(shown)} of {len(table)} examples")

st.subheader("Override")
st.caption("An override pins the label: the running search uses it as fixed context and never changes it.")
choices = {f"1 ({words[0]})": 1, f"0 ({words[1]})": 0, "unpin (let the search decide)": None}
who = st.text_input(  # outside the form: the bulk override below uses it too
    "Your name (kept in the audit trail)",
    value=st.session_state.get("who") or getpass.getuser(),
    key="who_input",
)
with st.form("override", clear_on_submit=True):
    ids = st.multiselect("Examples (idx)", table["idx"].tolist(), key=f"override_ids_{run_id}")
    label = st.radio("New label", list(choices), index=None, horizontal=True, key=f"override_label_{run_id}")
    note = st.text_input("Note (kept in the audit trail)", key=f"override_note_{run_id}")
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

st.subheader("Override all filtered examples")
bulk_key = f"bulk_pending_{run_id}"
bulk_cols = st.columns(2, vertical_alignment="bottom")
bulk_label = bulk_cols[0].radio("New label for all of them", list(choices), index=None, horizontal=True,
                                key=f"bulk_label_{run_id}")  # fmt: skip
bulk_note = bulk_cols[1].text_input("Note", key=f"bulk_note_{run_id}")
if st.button(f"Override all {len(shown)} filtered examples", key="bulk_start", disabled=shown.empty):
    if bulk_label is None:
        st.warning("Choose the new label (or unpin) first.")
    else:  # the examples are fixed now: a later change of the filter does not change what is confirmed
        st.session_state[bulk_key] = {"ids": [int(i) for i in shown["idx"]], "label": bulk_label}
pending = st.session_state.get(bulk_key)
if pending:
    new, ids = choices[pending["label"]], pending["ids"]
    rows = table.set_index("idx").loc[ids]
    if new is None:
        change = f"{int(rows['pinned'].sum())} of them are pinned now and will be unpinned"
    else:
        moved = int((rows["label"] != new).sum())
        change = f"{moved} change label, {len(ids) - moved} keep theirs and are pinned to it"
    st.warning(
        f"Override {len(ids)} examples to {pending['label']}? {change}. Nothing changes until you confirm."
    )
    confirm, cancel, _ = st.columns([2, 1, 3])
    if confirm.button(f"Confirm: override {len(ids)} examples", key="bulk_confirm", type="primary"):
        st.session_state["who"] = who
        for idx in ids:
            store.add_override(run_id, idx, new, who=who.strip() or "unknown", note=bulk_note)
        del st.session_state[bulk_key]
        st.session_state["labels_flash"] = f"Saved overrides of {len(ids)} examples → {pending['label']}"
        st.rerun()
    if cancel.button("Cancel", key="bulk_cancel"):
        del st.session_state[bulk_key]
        st.rerun()

with st.expander("Audit trail"):
    audit_trail_section(store, run_id)

with st.expander("Label history of one example"):
    pick = st.selectbox("Example (idx)", table["idx"].tolist(), index=None, key=f"history_idx_{run_id}")
    if pick is not None:
        st.text(table.set_index("idx").loc[pick, "text"])
        label_history(store, run_id, int(pick))

with st.expander("Inconsistent pairs"):
    pairs = inconsistent_pairs(store, run_id)
    if pairs.empty:
        st.caption("No violations in the current labels.")
    else:
        st.dataframe(pairs, hide_index=True)
