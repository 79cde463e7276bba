"""How ICM decides: one example's evidence with the run's real numbers, step by step, for demos.

The model runs in a background job (icm_app/worker/explain.py); this page starts it, polls the store and
renders the stored result: the prompt, the answer, the term in P, the flip's ΔU and acceptance, the rules.
"""

import streamlit as st

from icm_app.ui.charts import plot_config
from icm_app.ui.explain_view import acceptance_sentence, answer_figure, explain_cost
from icm_app.ui.layout import page_frame
from icm_app.ui.live import job_watch
from icm_app.ui.tables import labels_table
from icm_app.worker.explain import current_labels, result_kind
from icm_app.worker.process import explain_state, start_explain

store, info = page_frame("How ICM decides")
run_id = info.id
words = [w.strip() or repr(w) for w in info.task["label_words"]]  # label 1 = the first word


def word(y: int | None) -> str:
    return "no label" if y is None else f"“{words[0 if y == 1 else 1]}”"


def num(x: float, digits: int = 3) -> str:
    """A number as written inside a formula: negatives in parentheses (50 × (-0.0889), not 50 × -0.0889)."""
    return f"({x:.{digits}f})" if x < 0 else f"{x:.{digits}f}"


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
n_demos, flipped = len(r["demonstrations"]), r["new_label"]
st.caption(f"Computed at iteration {r['iteration']} of the run ({r['run_status']}) in {r['seconds']:.1f} s.")
if r["labels"] != {str(i): y for i, y in sorted(current_labels(store, run_id).items())}:
    st.warning("The labels have changed since (the search went on, or a label was overridden): these numbers "
               "may be stale. Press **Explain with the model** to recompute them.")  # fmt: skip

st.subheader("1. What the model read")
st.write(f"ICM never shows the model an example alone. For #{idx} it writes one prompt: the {n_demos} other "
         f"labeled examples, each followed by its current label, then #{idx} with its label left blank. The "
         f"model only continues the text. Its own label ({word(r['label'])}) is never in the prompt, so it "
         "must be predicted from the others: this is the *leave-one-out* prompt.")  # fmt: skip
with st.expander(f"The prompt: {n_demos} demonstrations, then the query"):
    demos = "".join(d["text"] for d in r["demonstrations"]) or "(no demonstrations)"
    st.code(demos, language=None, height=260, wrap_lines=True)
    st.caption("The query: the model writes the next word")
    st.code(r["query"], language=None, wrap_lines=True)

st.subheader("2. What it answered")
p1, p0 = r["probabilities"]
st.write(f"Only the two label words are compared: the model gives {word(1)} a probability of {p1:.3f} and "
         f"{word(0)} {p0:.3f} as the next word (the two rescaled to sum to 1). Their log-odds, "
         f"ln({p1:.3f} / {p0:.3f}) = {r['model_logodds']:+.3f}, is the model's evidence for {word(1)}.")  # fmt: skip
if r["calibrated"]:
    st.write(f"This run calibrates: the same prompt with a content-free input (“{info.task['content_free']}” in "
             "place of the example's text) shows how much the model leans to a word regardless of the text; its "
             f"log-odds is subtracted, which leaves {r['logodds']:+.3f}. That is what the next steps use.")  # fmt: skip
st.plotly_chart(answer_figure(r, [word(1), word(0)], idx), key="answer", config=plot_config())

st.subheader("3. What that adds to P")
signed = r["logodds"] if r["label"] == 1 else -r["logodds"]
if r["label"] is None:
    st.write(f"#{idx} has no label yet, so it adds nothing to P = {r['P']:.4f} until the search labels it.")
elif r["p_mode"] == "mean_logodds":
    st.write(f"P, the *mutual predictability*, measures how well each label follows from the others. In this run "
             f"it is the average, over the {r['n_labeled']} labeled examples, of the log-odds toward each one's own "
             f"label (positive when the model agrees). #{idx} is labeled {word(r['label'])}, so it adds "
             f"{signed:+.3f} / {r['n_labeled']} = {r['p_term']:+.4f} to P = {r['P']:.4f}. U weighs P by "
             f"α = {r['alpha']:g}, so #{idx} is worth α × {num(r['p_term'], 4)} = {r['alpha'] * r['p_term']:+.3f} of U.")  # fmt: skip
else:
    st.write(f"P, the *mutual predictability*, measures how well each label follows from the others. In this run "
             f"it is the sum of the log-probabilities of each labeled example's own label. #{idx} is labeled "
             f"{word(r['label'])}, so it adds ln {r['probabilities'][0 if r['label'] == 1 else 1]:.3f} = "
             f"{r['p_term']:+.4f} to P = {r['P']:.4f} (α = {r['alpha']:g}).")  # fmt: skip


def u_text(t: dict) -> str:
    excess = f" − {t['proportion_weight']:g} × {t['proportion_excess']}" if t["proportion_excess"] else ""
    return f"{t['alpha']:g} × {num(t['P'], 4)} − {t['rule_violations']}{excess} = {t['U']:.3f}"


st.subheader(f"4. If #{idx} were {word(flipped)}")
fix = (f"The search then repairs broken rules (ConsistencyFix), as after every proposal: it changed "
       f"{', '.join(f'#{j} to {word(y)}' for j, _, y in r['fix_changed'])}, giving U = {r['U_flipped']:.3f}. "
       if r["fix_changed"] else "The search's repair step (ConsistencyFix), applied after every proposal, "
       "changed nothing here. ")  # fmt: skip
bounds = [
    f"{k[:3]} {info.search[k]:.0%}" for k in ("min_share", "max_share") if info.search.get(k) is not None
]
share = (f" (this run also bounds the share of {word(1)} labels, {' and '.join(bounds)}, and subtracts "
         f"{r['terms']['proportion_weight']:g} for each label beyond them)" if bounds else "")  # fmt: skip
st.write(f"U, the score the search maximises, is α × P minus the broken rules{share}: "
         f"now U = {u_text(r['terms'])}. "
         f"With #{idx} labeled {word(flipped)}, every other prompt changes too (#{idx} is one of their "
         f"demonstrations), so the model reads them all again: U would be {u_text(r['terms_proposal'])}. {fix}"
         f"The change is ΔU = {r['U_flipped']:.3f} − {num(r['U'])} = {r['delta']:+.3f}.")  # fmt: skip
n, T = r["temperature_iteration"], r["temperature"]
st.write("The search always keeps a change that raises U, and keeps one that lowers it only with probability "
         "min(1, exp(ΔU / T)). The *temperature* T starts high, so that early on the search also tries worse "
         "labelings, and falls as it goes, until it only improves. "
         + (f"This run has finished its {n} search iterations; at its last temperature"
            if r["search_over"] else f"Its next iteration is n = {n}; at that temperature")
         + ", the search would accept this flip with probability:")  # fmt: skip
if r["schedule"] == "log":
    formula, numbers = r"\frac{T_0}{1 + \beta \ln n}", rf"\frac{{{r['t0']:g}}}{{1 + {r['beta']:g} \ln {n}}}"
else:
    formula, numbers = r"T_0\,\beta^{n}", rf"{r['t0']:g} \cdot {r['beta']:g}^{{{n}}}"
st.latex(rf"""\begin{{aligned}}
T &= \max\left(T_{{min}}, {formula}\right) = \max\left({r['t_min']:g}, {numbers}\right) = {T:.4f} \\
P(\text{{accept}}) &= \min\left(1, e^{{\Delta U / T}}\right) = \min\left(1, e^{{{r['delta']:.3f} / {T:.4f}}}\right)
= {r['acceptance']:.4g}
\end{{aligned}}""")  # fmt: skip
st.write(acceptance_sentence(r["delta"], r["acceptance"], word(flipped)))
if r["pinned"]:
    st.caption(f"#{idx} is pinned by a person: the search never changes it.")
elif not r["would_propose"]:
    swaps = " (only its swap move, on in this run, could change it)" if r["swap_prob"] else ""
    st.caption(f"The search only proposes the label the model prefers, here {word(r['preferred'])}, the "
               f"current one: it would not propose this flip at all right now{swaps}.")  # fmt: skip
else:
    st.caption(
        f"The model prefers {word(flipped)}, so the search proposes this flip whenever it picks #{idx}."
    )

st.subheader("5. The rules it takes part in")
if not r["rules"]:
    st.write(f"No consistency rule involves #{idx} (this task has none, or #{idx} shares a group with no other "
             "example), so the broken-rules count does not change when it flips: P alone decides its label.")  # fmt: skip
for rule in r["rules"]:
    now = ", ".join(" & ".join(f"#{i}" for i in v) for v in rule["violated_now"])
    after = ", ".join(" & ".join(f"#{i}" for i in v) for v in rule["violated_after"])
    members = ", ".join(f"#{p['idx']}" for p in rule["partners"])
    st.write(f"Rule **{rule['rule']}**: {rule['text']}. #{idx} is in group “{rule['group']}” with {members}. "
             f"Now {'it breaks the rule with ' + now if now else 'it breaks no rule'}; after the flip and the "
             f"repair, {'it would break it with ' + after if after else 'it would break none'}.")  # fmt: skip
    st.dataframe([{"example": f"#{p['idx']}", "key": p["key"], "label now": word(p["label"]),
                   "label after the flip": word(p["label_after"])} for p in rule["partners"]], hide_index=True)  # fmt: skip
