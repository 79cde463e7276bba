"""How ICM decides: one example's evidence with the run's real numbers, step by step, for demos.

The model runs in a background job (icm_app/worker/explain.py); this page starts it, polls the store and
renders the stored result: the prompt, the answer, the term in P, the flip's ΔU and acceptance, the rules.
"""

import streamlit as st

from icm_app.ui.explain_view import explain_cost, label_word, steps
from icm_app.ui.layout import page_frame
from icm_app.ui.live import job_watch
from icm_app.ui.scale_view import stop_if_scale_run
from icm_app.ui.tables import labels_table
from icm_app.worker.explain import result_kind
from icm_app.worker.process import explain_state, start_explain

store, info = page_frame("How ICM decides")
stop_if_scale_run(store, info)
run_id = info.id
words = [w.strip() or repr(w) for w in info.task["label_words"]]  # label 1 = the first word


def word(y: int | None) -> str:
    return label_word(words, y)


st.markdown(
    "ICM labels data by asking a language model how well each label **follows from all the others**, and "
    "searching for the labels that fit together best. Pick one example below: a background job asks the "
    "run's own model about it, and the five steps show what the model read, what it answered, and how the "
    "search uses that answer — with this run's real numbers."
)
table = labels_table(store, run_id).set_index("idx")
job = explain_state(store, run_id)
labeled = table[table["confidence"].notna()]
uncertain = int(labeled["confidence"].abs().idxmin()) if not labeled.empty else int(table.index[0])
options = [int(i) for i in table.index]
default = job["idx"] if job and job["idx"] in options else uncertain


def describe(idx: int) -> str:
    row = table.loc[idx]
    text = row["text"] if len(row["text"]) <= 70 else row["text"][:69] + "…"
    label = None if row["label"] != row["label"] or row["label"] is None else int(row["label"])
    return f"#{idx} · {word(label)} · {text}" + (" · most uncertain" if idx == uncertain else "")


idx = st.selectbox(
    "Example", options, index=options.index(default), format_func=describe, key=f"explain_{run_id}"
)
st.markdown(f"> {table.loc[idx, 'text']}")
running = job is not None and job["state"] == "running"
if st.button("Explain with the model", type="primary", key="explain", disabled=running):
    start_explain(store, run_id, idx)
    st.rerun()


def show_progress(now: dict | None) -> None:
    if now and now["state"] == "running":
        st.info(f"The model is reading the prompts for example #{now['idx']} (this one, and every other "
                "example's with the label flipped)…", icon=":material/hourglass_top:")  # fmt: skip
    elif now and now["state"] == "failed" and now["idx"] == idx:
        st.error("The explanation failed. The end of its log:")
        st.code(now["log"] or "(empty log)", language=None)


job_watch(lambda: explain_state(store, run_id), show_progress)
found = store.latest_evaluation(run_id, result_kind(idx))
if found is None or found.get("state") != "finished":
    if found is not None and not (job and job["idx"] == idx):
        st.error(f"The last explanation of #{idx} failed: {found['error']}")
    if found is None and not running:
        st.caption(f"Not explained yet: press **Explain with the model** ({explain_cost(store, run_id)}).")
    st.stop()
r = found
st.caption(f"Computed at iteration {r['iteration']} of the run ({r['run_status']}) in {r['seconds']:.1f} s.")
if r["labels"] != {str(i): y for i, y in sorted(store.current_labels(run_id).items())}:
    st.warning("The labels have changed since (the search went on, or a label was overridden): these numbers "
               "may be stale. Press **Explain with the model** to recompute them.")  # fmt: skip
steps(r, info, idx, words)
