"""Export: labels with scores, pins and provenance as JSONL/CSV/Parquet/datasets, or prompt/completion."""

import streamlit as st

from icm_app.io.export import (
    confined_path,
    export_bytes,
    export_file_name,
    export_rows,
    export_run,
    finetune_rows,
)
from icm_app.paths import icm_home
from icm_app.ui.layout import page_frame

store, info = page_frame("Export")
run_id = info.id

kinds = {"JSONL": "jsonl", "CSV": "csv", "Parquet": "parquet", "Hugging Face datasets folder": "datasets",
         "Fine-tuning (prompt/completion JSONL)": "finetune"}  # fmt: skip
choice = st.selectbox("Format", list(kinds), key="format")
fmt = kinds[choice]
finetune = fmt == "finetune"
labeled_only = st.checkbox("Labeled examples only", value=True, key="labeled_only", disabled=finetune,
                           help="A fine-tuning file always holds labeled examples only.")  # fmt: skip
pinned_only = st.checkbox("Pinned (human-overridden) examples only", value=False, key="pinned_only")
# one field per format and run, so switching the format never keeps the old extension
name = st.text_input("File name", export_file_name(run_id, fmt), key=f"file_name_{fmt}_{run_id}")

rows = (finetune_rows(store, run_id, pinned_only=pinned_only) if finetune
        else export_rows(store, run_id, labeled_only=labeled_only, pinned_only=pinned_only))  # fmt: skip
st.caption(f"{len(rows)} row(s) will be written.")
if fmt != "datasets":
    data = export_bytes(store, run_id, fmt, labeled_only=labeled_only or finetune, pinned_only=pinned_only)
    st.download_button("Download", data, file_name=name, type="primary", key="download")
folder = icm_home() / "exports"
if st.button(
    "Save to the exports folder", key="save", help="Writes into exports/ of the data folder ($ICM_HOME)"
):
    try:
        path = export_run(store, run_id, confined_path(folder, name), fmt=fmt, labeled_only=labeled_only or finetune,
                          pinned_only=pinned_only)  # fmt: skip
        st.success(f"Saved `{path.name}` in the exports folder.")
    except ValueError as exc:
        st.error(str(exc))
st.caption("Every row carries its label, label word, score (log-odds), pinned flag, flips and provenance: "
           "run id, model, full config and export time.")  # fmt: skip
