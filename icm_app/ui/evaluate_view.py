"""The Evaluate page's sections: label quality against gold, suspect labels, search-or-objective, the
held-out evaluation and LoRA fine-tuning (each started as a background job, shown when it ends)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ..errors import DataError
from ..evaluation.baselines import table
from ..evaluation.salience import EXPLANATION
from ..evaluation.suspects import FORMULA, precision_at_ks, run_suspects
from ..io.loaders import save_upload
from ..numbers import parse_whole_numbers
from ..paths import HELD_OUT, icm_home, sample_path
from ..store.sqlite_store import RunInfo, Store
from ..worker.evaluations import check_evaluation
from ..worker.process import job_state, start_job
from .charts import (
    CEILING,
    accuracy_figure,
    agreement_figure,
    baselines_figure,
    confusion_figure,
    plot_config,
)
from .layout import page_link
from .live import job_watch
from .tables import labels_table


def _stored(store: Store, run_id: str, kind: str, pending: str) -> dict[str, Any] | None:
    """The run's latest `kind` result, or None after saying (`pending`) when it will appear."""
    found = store.latest_evaluation(run_id, kind)
    if found is None:
        st.caption(pending)
    return found


def zero_shot_check(store: Store, run_id: str) -> None:
    """The gold-free warning computed when the run ended: calibrated zero-shot against ICM's labels."""
    check = _stored(store, run_id, "zero_shot_check", "Shown when the run finishes: how far calibrated zero-shot "
                    "labels (the model asked with no demonstrations) agree with ICM's, and which of the two the "
                    "objective prefers.")  # fmt: skip
    if check is not None:
        (st.warning if check["warn"] else st.success)(check["message"], icon=":material/balance:")


def baselines(store: Store, run_id: str) -> None:
    """Simple labelings of the same examples beside ICM's (a background job), as a table and two charts."""
    st.caption("Zero-shot (raw and calibrated), few-shot with random labels, bootstrapped few-shot and "
               "confidence-threshold pseudo-labels, each on this run's examples with its model, template and "
               "calibration; U is the run's objective (gold-free), the ceiling is leave-one-out with gold as context.")  # fmt: skip
    if st.button("Run the baselines", key="run_baselines"):
        if len(store.current_labels(run_id)) < 2:
            st.error("Baselines not started: the run has fewer than 2 labels; run the search first.")
        else:
            start_job("baselines", run_id, ["--quiet"])
            st.info(
                "Baselines started; the table appears below when they end (about as long as a short run)."
            )
    job_watch(lambda: job_state(store, "baselines", run_id), lambda job: job_status(job, "Baselines"))
    result = store.latest_evaluation(run_id, "baselines")
    if result is None:
        return
    rows = result["rows"]
    icm = next(r for r in rows if r["method"] == "ICM")
    beaten = [r["method"] for r in rows if r["method"] not in ("ICM", "gold", CEILING)
              and r["gold_agreement"] is not None and r["gold_agreement"] > icm["gold_agreement"]]  # fmt: skip
    if beaten:
        st.warning(f"On gold, {', '.join(beaten)} beat{'s' if len(beaten) == 1 else ''} ICM here "
                   f"(ICM {icm['gold_agreement']:.3f}).", icon=":material/warning:")  # fmt: skip
    cols = st.columns(2) if result["has_gold"] else [st.container()]
    if result["has_gold"]:
        cols[0].plotly_chart(
            baselines_figure(rows, "gold_agreement"), key="baselines_gold", config=plot_config()
        )
    cols[-1].plotly_chart(baselines_figure(rows, "U"), key="baselines_u", config=plot_config())
    st.dataframe(table(result), hide_index=True)


def label_quality(store: Store, run_id: str, words: tuple[str, str]) -> None:
    """Agreement with gold over iterations, the confusion matrix, and the confident disagreements."""
    table = labels_table(store, run_id)
    graded = table[table["gold"].notna() & table["label"].notna()]
    if graded.empty and table["gold"].notna().any():
        st.info("No labels yet: label quality against gold appears here once the run has labeled examples.")
    elif graded.empty:
        st.info("This run's data has no gold column, so label quality cannot be measured here; "
                "the salience check below needs no gold.")  # fmt: skip
    else:
        left, right = st.columns(2)
        left.plotly_chart(agreement_figure(store.events(run_id)), key="agreement", config=plot_config())
        right.plotly_chart(confusion_figure(graded["label"].astype(int).tolist(), graded["gold"].astype(int).tolist(), words),
                           key="confusion", config=plot_config())  # fmt: skip
        wrong = graded[graded["label"] != graded["gold"]].sort_values("confidence", ascending=False)
        st.caption(
            f"{len(wrong)} of {len(graded)} labeled examples disagree with gold; most confident first:"
        )
        st.dataframe(
            wrong[["idx", "text", "label", "gold", "confidence", "flips", "pinned"]],
            hide_index=True,
            height=min(240, 35 * (len(wrong) + 1) + 3),
        )


def precision_figure(results: list[dict[str, Any]]) -> go.Figure:
    """Share of wrong labels among the top K suspects against a random K, side by side for each K."""
    xs = [f"K = {r['k']}" for r in results]
    fig = go.Figure([
        go.Bar(name="top K by suspicion", x=xs, y=[r["precision"] for r in results], marker_color="#d62728",
               text=[f"{r['wrong_in_top']}/{r['k']}" for r in results], textposition="outside"),
        go.Bar(name="random K (expected)", x=xs, y=[r["random"] for r in results], marker_color="#7f7f7f",
               text=[f"{r['random']:.2f}" for r in results], textposition="outside"),
    ])  # fmt: skip
    fig.update_layout(barmode="group", height=300, margin=dict(t=40, b=10), title="Precision at K: share wrong",
                      yaxis=dict(range=[0, 1.1], title="share disagreeing with gold"), legend=dict(orientation="h"))  # fmt: skip
    return fig


def suspects(store: Store, run_id: str) -> None:
    """The suspect ranking (no gold in it) and, where gold exists, its precision at K against random."""
    ranking = run_suspects(store, run_id)
    st.caption(f"Ranked from the model's own evidence, never from gold: {FORMULA}.")
    if not ranking:
        st.caption("No labels yet.")
    else:
        gold = {e["idx"]: e["gold"] for e in store.examples(run_id)}
        results = precision_at_ks(ranking, gold)
        if not results:
            st.info("Precision at K needs gold: this run's data has none. The most suspect labels are below.")
        else:
            left, right = st.columns([3, 2])
            left.plotly_chart(precision_figure(results), key="suspect_precision", config=plot_config())
            first = results[0]
            right.write(
                f"Of the **{first['k']} most suspect** labels, **{first['wrong_in_top']}** disagree with gold "
                f"({first['precision']:.0%}); {first['k']} labels drawn at random would hold {first['random']:.0%} "
                f"wrong on average ({first['n_wrong']} of the {first['n_graded']} labels with gold are wrong)."
            )
        top = pd.DataFrame([{"rank": r + 1, "idx": s.idx, "suspicion": round(s.suspicion, 2), "label": s.label,
                             **({"gold": gold.get(s.idx)} if results else {}), "why": s.reason}
                            for r, s in enumerate(ranking[:10])])  # fmt: skip
        st.dataframe(top, hide_index=True)
        page_link("Review", "Review the most suspect labels one by one", run_id, icon=":material/fact_check:")


def diagnosis(store: Store, run_id: str) -> None:
    """Did the search stop short, or does the objective prefer these labels to gold?"""
    found = _stored(store, run_id, "diagnosis", "Shown when the run finishes: U of the run's labels against U "
                    "of gold on the same examples (without gold, the restart chains' U spread and label agreement).")  # fmt: skip
    if found is not None:
        (st.success if found["verdict"] in ("gold", "converged") else st.warning)(
            f"**{found['title'][0].upper() + found['title'][1:]}.** {found['message']}"
        )
        numbers = [f"U of the run's labels {found['run_u']:.2f}"]
        if found.get("gold_u") is not None:
            numbers.append(f"U of gold {found['gold_u']:.2f} on {found['n_compared']} examples")
        if found.get("u_spread") is not None:
            numbers.append(f"{found['chains']} chains: U spread {found['u_spread']:.2f}, "
                           f"label agreement {found['label_agreement']:.0%}")  # fmt: skip
        st.caption(" · ".join(numbers))


def heldout_form(store: Store, info: RunInfo) -> str:
    """The held-out evaluation's form; starts the job; returns the test file path (fine-tuning uses it)."""
    run_id = info.id
    last = store.latest_evaluation(run_id, "icl")  # the form starts from the settings of the results shown
    held_out = HELD_OUT.get(info.task["name"])
    default_test = last["test"] if last else (str(sample_path(held_out)) if held_out else "")
    upload = st.file_uploader("Upload a test file (gold labels, same columns; never seen by the search)",
                              type=["csv", "json", "jsonl", "parquet"], key=f"test_upload_{run_id}")  # fmt: skip
    if upload is not None:
        test = str(save_upload(upload.name, upload.getvalue(), icm_home() / "uploads"))
        st.caption(f"Test file: uploaded `{upload.name}`")
    else:
        test = st.text_input("…or a test file path on this machine", default_test, key=f"test_file_{run_id}")
    cols = st.columns(3)
    demos = cols[0].number_input(
        "Demonstrations per context", 1, 256, last["n_demos"] if last else 16, key=f"demos_{run_id}"
    )
    seeds = cols[1].text_input(
        "Seeds", " ".join(map(str, last["seeds"])) if last else "0 1 2", key=f"seeds_{run_id}"
    )
    seed_list, seed_problem = parse_whole_numbers(seeds)
    if seed_problem:
        cols[1].error(seed_problem, icon=":material/error:")
    samples = cols[2].number_input("Salience baselines", 0, 64, 8, key=f"salience_samples_{run_id}")
    if st.button("Run evaluation", type="primary", key="run_eval", disabled=seed_list is None):
        try:
            n_test = check_evaluation(store, run_id, test)
        except ValueError as exc:  # DataError included
            st.error(f"Evaluation not started: {exc}")
        else:
            start_job("eval", run_id, ["--test", test, "--demos", str(demos), "--seeds", *map(str, seed_list),
                                       "--salience-samples", str(samples), "--quiet"])  # fmt: skip
            st.info(f"Evaluation started on {n_test} test examples; its progress and results appear below.")
    return test


def job_status(job: dict[str, Any] | None, what: str) -> None:
    if job is None:
        return
    if job["state"] == "running":
        st.info(
            f"{what} running…" + (f"  \nLatest: `{job['log'].splitlines()[-1][-160:]}`" if job["log"] else "")
        )
    elif job["state"] == "failed":
        st.error(f"{what} failed. The end of its log:")
        st.code(job["log"] or "(empty log)", language=None)


def icl_results(store: Store, run_id: str) -> None:
    job_watch(lambda: job_state(store, "eval", run_id), lambda job: job_status(job, "Evaluation"))
    icl = store.latest_evaluation(run_id, "icl")
    if icl is None:
        st.caption("No evaluation yet.")
        return
    st.caption(f"Results of {icl['n_test']} test examples from `{Path(icl['test']).name}`, "
               f"{icl['n_demos']} demonstrations, seeds {icl['seeds']}")  # fmt: skip
    left, right = st.columns([3, 2])
    left.plotly_chart(accuracy_figure(icl["methods"]), key="accuracy", config=plot_config())
    right.dataframe([{k: m[k] for k in ("method", "mean", "std")} | {"per seed": m["accuracies"]} for m in icl["methods"]],
                    hide_index=True)  # fmt: skip
    sal = store.latest_evaluation(run_id, "salience")
    st.subheader("Is the concept salient?")
    st.write(EXPLANATION)
    if sal:
        (st.success if sal["salient"] else st.warning)(sal["verdict"])
        st.caption(
            f"P of the run's labels: {sal['run_p']:.3f}; baselines: "
            + ", ".join(f"{p:.3f}" for p in sal["baseline_ps"])
        )


def finetune(store: Store, info: RunInfo, test: str) -> None:
    """The LoRA form: trains on ICM's labels and, as the ceiling, on gold (a background job)."""
    run_id = info.id
    st.caption("Trains a LoRA adapter of the run's local model on its ICM labels and, as the ceiling, on gold; "
               "then reads held-out accuracy zero-shot from each. Minutes on a CPU for the bundled model.")  # fmt: skip
    ft_cols = st.columns(3)
    epochs = ft_cols[0].number_input("Epochs", 1, 50, 3, key=f"ft_epochs_{run_id}")
    lr = ft_cols[1].number_input("Learning rate", 1e-6, 1e-1, 5e-4, format="%g", key=f"ft_lr_{run_id}")
    rank = ft_cols[2].number_input("LoRA rank", 1, 256, 8, key=f"ft_rank_{run_id}")
    if st.button("Fine-tune", key="run_ft", disabled=info.scorer["model"].startswith("openai:")):
        try:
            check_evaluation(store, run_id, test)
        except DataError as exc:
            st.error(f"Fine-tuning not started: {exc}")
        else:
            start_job(
                "finetune",
                run_id,
                ["--test", test, "--epochs", str(epochs), "--lr", str(lr), "--rank", str(rank)],
            )
            st.info("Fine-tuning started; its progress and results appear below.")


def finetune_results(store: Store, run_id: str) -> None:
    job_watch(lambda: job_state(store, "finetune", run_id), lambda job: job_status(job, "Fine-tuning"))
    ft = store.latest_evaluation(run_id, "finetune")
    if ft:
        st.dataframe([{"trained on": k, "held-out accuracy": v["accuracy"], "examples": v["n_train"],
                       "adapter": Path(v["adapter"]).name if v.get("adapter") else ""} for k, v in ft["sources"].items()], hide_index=True)  # fmt: skip
