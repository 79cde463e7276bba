"""Evaluate: ICM against simple baselines, label quality against gold, suspect labels, held-out accuracy of ICL with ICM labels, the
salience check and LoRA fine-tuning; the sections live in icm_app/ui/evaluate_view.py."""

import streamlit as st

from icm_app.ui import evaluate_view as view
from icm_app.ui.layout import page_frame

store, info = page_frame("Evaluate")
st.subheader("Is ICM worth it on this data?")
view.zero_shot_check(store, info.id)
view.baselines(store, info.id)
st.subheader("Label quality (gold is used here only)")
view.label_quality(store, info.id, tuple(info.task["label_words"]))
st.subheader("Suspect labels (ranked without gold)")
view.suspects(store, info.id)
st.subheader("Search or objective?")
view.diagnosis(store, info.id)
st.subheader("Held-out accuracy")
test = view.heldout_form(store, info)
view.icl_results(store, info.id)
st.subheader("Fine-tune on the labels (LoRA)")
view.finetune(store, info, test)
view.finetune_results(store, info.id)
