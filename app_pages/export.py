"""Export: labels with scores, pins and provenance as JSONL/CSV/Parquet/datasets, or prompt/completion."""

import streamlit as st

from icm_app.io.export import confined_path, export_bytes, export_run
from icm_app.paths import icm_home
from icm_app.ui.state import get_store, require_run

store = get_store()
run_id = require_run()
info = store.run(run_id)
st.title("Export")
st.caption(f"`{info.id}` · {info.name}")

kinds = {"JSONL": "jsonl", "CSV": "csv", "Parquet": "parquet", "Hugging Face datasets folder": "datasets",
         "Fine-tuning (prompt/completion JSONL)": "finetune"}  # fmt: skip
choice = st.selectbox("Format", list(kinds), key="format")
fmt = kinds[choice]
labeled_only = st.checkbox("Labeled examples only", value=True, key="labeled_only")
pinned_only = st.checkbox("Pinned (human-overridden) examples only", value=False, key="pinned_only")
extension = {"finetune": "jsonl", "datasets": ""}.get(fmt, fmt)
name = st.text_input("File name", f"icm-{info.id}{'-finetune' if fmt == 'finetune' else ''}{'.' + extension if extension else ''}",
                     key="file_name")  # fmt: skip

if fmt != "datasets":
    data = export_bytes(store, run_id, fmt, labeled_only=labeled_only, pinned_only=pinned_only)
    st.download_button("Download", data, file_name=name, type="primary", key="download")
folder = icm_home() / "exports"
if st.button(f"Save to {folder}", key="save"):
    try:
        path = export_run(store, run_id, confined_path(folder, name), fmt=fmt, labeled_only=labeled_only,
                          pinned_only=pinned_only)  # fmt: skip
        st.success(f"Saved {path}")
    except ValueError as exc:
        st.error(str(exc))
st.caption("Every row carries its label, label word, score (log-odds), pinned flag, flips and provenance: "
           "run id, model, full config and export time.")  # fmt: skip
