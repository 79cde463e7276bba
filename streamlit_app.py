"""ICM Studio's home page: what ICM does and where to start. Streamlit's classic multipage app: the other
pages are the files in pages/ (URL = file name); each calls page_frame, which draws the menu and keeps the
open run in the URL. Start it with `icm app` (or `streamlit run streamlit_app.py` from this folder)."""

import streamlit as st

from icm_app.ui.layout import page_frame, page_link

store, info = page_frame("ICM Studio", needs_run=False)
st.markdown(
    """
**Internal Coherence Maximization** (ICM; Wen et al. 2025, *Unsupervised Elicitation of Language Models*)
labels data **without any human labels**. It asks a pretrained language model to judge each claim
("this review is positive", "this answer is correct") and searches for the set of labels that the model
finds most *mutually predictable* — each label is predicted well from all the others in context — while
breaking as few *logical consistency* rules as possible:

> U(D) = α · P(D) − I(D)

The search is simulated annealing: propose a label for one example, repair inconsistencies, keep the change
if U improves (or, early on, sometimes even if it does not). A gold column, if your data has one, is kept
apart and used only to measure agreement — the search never sees it. If the concept is not salient to the
model, ICM stays at chance; the Evaluate page checks for that.
"""
)
st.subheader("Is ICM worth it on your data?")
st.markdown(
    """
Not always, and the app says so. On the bundled movie-review sample the bundled 270M model's calibrated
zero-shot answers (no demonstrations) agree with gold more often than its ICM labels do, and the model's own
ceiling (each example predicted from all the others *correctly* labeled) is barely above zero-shot: there is
no room for ICM to add anything. Every finished run therefore compares its labels with calibrated zero-shot
(no gold needed) and says which the objective prefers; **Evaluate** puts simple baselines and the model's
ceiling beside ICM. Where the ceiling is well above zero-shot (the GSM8K verification sample: 0.69 against
0.47), ICM has room. No bundled sample yet shows ICM reliably beating the simple baselines: the closest, the
movie reviews asked "Did the reviewer like it?" (yes/no, 16 examples), gave ICM 0.56, 0.75 and 0.94 on three
seeds against 0.69 for raw zero-shot and 0.78 ± 0.10 for few-shot with random labels (`docs/baselines.md`).
Sweeps do not change the picture: on 16 reviews, α from 10 to 100, the zero-shot start and three objective
settings (3 seeds each) average 0.75-0.85 against calibrated zero-shot's 0.94; on the TruthfulQA and GSM8K
samples (16 examples each) every labeling, ICM's included, is at chance: the model does not know those concepts.
"""
)
page_link("How ICM decides", "How ICM decides: one example, step by step, with a run's real numbers",
          info.id if info else None, icon=":material/school:")  # fmt: skip
st.subheader("Where to start")
steps = [
    ("Data", "load a file or a bundled sample, pick a task preset, check the prompt, create a run"),
    ("Run", "choose the model and hyper-parameters, start the search, watch U, P and I move"),
    ("Labels", "inspect every label with its confidence, filter, override (an override pins the label)"),
    ("Evaluate", "held-out accuracy of ICL with ICM labels against gold and random labels; fine-tune"),
    ("Export", "JSONL, CSV, Parquet, a datasets folder, or prompt/completion pairs for fine-tuning"),
    ("Runs", "reopen, resume, compare or delete earlier runs"),
]
for title, what in steps:
    left, right = st.columns([1, 5])
    with left:
        page_link(title, title, info.id if info else None)
    right.caption(what)
if info is not None:
    st.caption(f"Open run: **{info.name}** · `{info.id}` · {info.status}")
