"""Evaluate: label quality against gold, held-out accuracy of ICL with ICM labels, and the salience check."""

import os
import subprocess
import sys

import plotly.graph_objects as go
import streamlit as st

from icm_app.cli import SAMPLES, SAMPLES_DIR
from icm_app.evaluation.salience import EXPLANATION
from icm_app.paths import icm_home
from icm_app.ui.charts import accuracy_figure, confusion_figure
from icm_app.ui.state import get_store, require_run
from icm_app.ui.tables import labels_table

store = get_store()
run_id = require_run()
info = store.run(run_id)
words = tuple(info.task["label_words"])
st.title("Evaluate")
st.caption(f"`{info.id}` · {info.name}")

table = labels_table(store, run_id)
graded = table[table["gold"].notna() & table["label"].notna()]
st.subheader("Label quality (gold is used here only)")
if graded.empty:
    st.info(
        "This run's data has no gold column, so label quality cannot be measured here; the salience check below needs no gold."
    )
else:
    events = [e for e in store.events(run_id) if e["gold_agreement"] is not None]
    left, right = st.columns(2)
    trend = go.Figure(
        go.Scatter(x=[e["iteration"] for e in events], y=[e["gold_agreement"] for e in events], mode="lines")
    )
    trend.update_layout(
        title="Agreement with gold over iterations", height=300, yaxis=dict(range=[0, 1]), margin=dict(t=40)
    )
    left.plotly_chart(trend, key="agreement")
    right.plotly_chart(
        confusion_figure(graded["label"].astype(int).tolist(), graded["gold"].astype(int).tolist(), words),
        key="confusion",
    )
    wrong = graded[graded["label"] != graded["gold"]].sort_values("confidence", ascending=False)
    st.caption(f"{len(wrong)} of {len(graded)} labeled examples disagree with gold; most confident first:")
    st.dataframe(
        wrong[["idx", "text", "label", "gold", "confidence", "flips", "pinned"]], hide_index=True, height=240
    )

st.subheader("Held-out accuracy")
held_out = {"sentiment": "sentiment-test", "truthfulqa": "truthfulqa-test"}.get(info.task["name"])
default = SAMPLES_DIR / SAMPLES[held_out][0] if held_out else ""
test = st.text_input(
    "Test file (gold labels, same columns; never seen by the search)", str(default), key="test_file"
)
cols = st.columns(3)
demos = cols[0].number_input("Demonstrations per context", 1, 256, 16, key="demos")
seeds = cols[1].text_input("Seeds", "0 1 2", key="seeds")
samples = cols[2].number_input("Salience baselines", 0, 64, 8, key="salience_samples")
if st.button("Run evaluation", type="primary", key="run_eval"):
    log = icm_home() / "logs" / f"eval-{run_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:  # a separate process: the page never blocks on the model
        subprocess.Popen([sys.executable, "-m", "icm_app.cli", "eval", run_id, "--test", test, "--demos", str(demos),
                          "--seeds", *seeds.split(), "--salience-samples", str(samples), "--quiet"],
                         stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "ICM_HOME": str(icm_home())},
                         start_new_session=True)  # fmt: skip
    st.info("Evaluation started; results appear below when it finishes.")


@st.fragment(run_every=3)
def results() -> None:
    icl = store.latest_evaluation(run_id, "icl")
    if icl is None:
        st.caption("No evaluation yet.")
        return
    st.caption(
        f"{icl['n_test']} test examples from `{icl['test']}`, {icl['n_demos']} demonstrations, seeds {icl['seeds']}"
    )
    left, right = st.columns([3, 2])
    left.plotly_chart(accuracy_figure(icl["methods"]), key="accuracy")
    right.dataframe([{k: m[k] for k in ("method", "mean", "std")} | {"per seed": m["accuracies"]} for m in icl["methods"]],
                    hide_index=True)  # fmt: skip
    sal = store.latest_evaluation(run_id, "salience")
    st.subheader("Is the concept salient?")
    st.write(EXPLANATION)
    if sal:
        if sal["salient"]:
            st.success(sal["verdict"])
        else:
            st.warning(sal["verdict"])
        st.caption(
            f"P of the run's labels: {sal['run_p']:.3f}; baselines: "
            + ", ".join(f"{p:.3f}" for p in sal["baseline_ps"])
        )


results()

st.subheader("Fine-tune on the labels (LoRA)")
st.caption("Trains a LoRA adapter of the run's local model on its ICM labels and, as the ceiling, on gold; "
           "then reads held-out accuracy zero-shot from each. Minutes on a CPU for the bundled model.")  # fmt: skip
ft_cols = st.columns(3)
epochs = ft_cols[0].number_input("Epochs", 1, 50, 3, key="ft_epochs")
lr = ft_cols[1].number_input("Learning rate", 1e-6, 1e-1, 5e-4, format="%g", key="ft_lr")
rank = ft_cols[2].number_input("LoRA rank", 1, 256, 8, key="ft_rank")
if st.button("Fine-tune", key="run_ft", disabled=info.scorer["model"].startswith("openai:")):
    log = icm_home() / "logs" / f"finetune-{run_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        subprocess.Popen([sys.executable, "-m", "icm_app.cli", "finetune", run_id, "--test", test, "--epochs", str(epochs),
                          "--lr", str(lr), "--rank", str(rank)], stdout=out, stderr=subprocess.STDOUT,
                         env={**os.environ, "ICM_HOME": str(icm_home())}, start_new_session=True)  # fmt: skip
    st.info(
        "Fine-tuning started; the progress bar with the loss is in the log below, results appear when it ends."
    )


@st.fragment(run_every=5)
def finetune_results() -> None:
    ft = store.latest_evaluation(run_id, "finetune")
    log = icm_home() / "logs" / f"finetune-{run_id}.log"
    if log.exists():
        lines = log.read_text(errors="replace").replace("\r", "\n").strip().splitlines()
        if lines:
            st.caption(f"Latest: {lines[-1][-160:]}")
    if ft:
        st.dataframe([{"trained on": k, "held-out accuracy": v["accuracy"], "examples": v["n_train"],
                       "adapter": v["adapter"]} for k, v in ft["sources"].items()], hide_index=True)  # fmt: skip


finetune_results()
