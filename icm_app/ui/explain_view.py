"""The pieces of the How ICM decides page that hold logic: the answer chart, the acceptance verdict and
what an explanation costs, so the page only lays them out."""

from __future__ import annotations

import math
import statistics
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from ..store.sqlite_store import RunInfo, Store
from .charts import format_duration, plot_config

CURRENT, OTHER = "#1f77b4", "#aec7e8"


def answer_figure(r: dict[str, Any], names: list[str], idx: int) -> go.Figure:
    """The two label words' probabilities; for a calibrated run also after calibration, the numbers the
    page's steps use (a raw bar alone made chart and conclusion seem to disagree). Dark: the current label."""
    raw = list(r["probabilities"])
    colors = [CURRENT if y == r["label"] else OTHER for y in (1, 0)]
    fig = go.Figure()
    if r["calibrated"]:
        p = 1 / (1 + math.exp(-r["logodds"]))
        for name, values, opacity in (
            ("the model's answer", raw, 0.45),
            ("after calibration (used below)", [p, 1 - p], 1.0),
        ):
            fig.add_trace(go.Bar(x=names, y=values, name=name, marker_color=colors, opacity=opacity,
                                 text=[f"{v:.1%}" for v in values], textposition="outside"))  # fmt: skip
        title = f"Next word after the prompt of #{idx}: raw, and after calibration (dark: its current label)"
    else:
        fig.add_trace(go.Bar(x=names, y=raw, marker_color=colors, text=[f"{v:.1%}" for v in raw],
                             textposition="outside"))  # fmt: skip
        title = f"Next word after the prompt of #{idx} (dark: its current label)"
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=40, b=10), barmode="group", title=title,
                      yaxis=dict(range=[0, 1.15], title="probability"), legend=dict(orientation="h", y=-0.15))  # fmt: skip
    return fig


def acceptance_sentence(delta: float, acceptance: float, flipped: str) -> str:
    """What the acceptance rule means for this flip, in words."""
    if delta >= 0:
        return f"So the search **would accept** this flip to {flipped}: it raises U by {delta:.3f} (probability 1)."
    if acceptance < 1e-3:
        return (f"So the search **would keep the current label**: the flip lowers U by {-delta:.3f}, and is "
                f"accepted with probability {acceptance:.2g}, practically never.")  # fmt: skip
    return (f"So the search **would accept** this flip to {flipped} with probability {acceptance:.1%}, though it "
            f"lowers U by {-delta:.3f}: at this temperature it still explores.")  # fmt: skip


def explain_cost(store: Store, run_id: str) -> str:
    """What pressing Explain costs, from this run's own iterations: it evaluates U twice over every labeled
    example (now, and with the flip), as two search iterations do, after loading the model."""
    timed = [e["seconds"] for e in store.events(run_id)
             if e["iteration"] > 0 and not e["skipped"] and e.get("phase") != "complete"]  # fmt: skip
    if not timed:
        return "it loads the model, then reads every labeled example's prompt twice"
    return (f"it loads the model, then reads every labeled example's prompt twice: about "
            f"{format_duration(2 * statistics.median(timed))}, as two of this run's search iterations")  # fmt: skip


def num(x: float, digits: int = 3) -> str:
    """A number as written inside a formula: negatives in parentheses (50 × (-0.0889), not 50 × -0.0889)."""
    return f"({x:.{digits}f})" if x < 0 else f"{x:.{digits}f}"


def label_word(words: list[str], y: int | None) -> str:
    """A label as the page writes it: its word in quotes (label 1 is the first word)."""
    return "no label" if y is None else f"“{words[0 if y == 1 else 1]}”"


def steps(r: dict[str, Any], info: RunInfo, idx: int, words: list[str]) -> None:
    """The five steps of one stored explanation, with the run's own numbers."""

    def word(y: int | None) -> str:
        return label_word(words, y)

    n_demos, flipped = len(r["demonstrations"]), r["new_label"]

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
        st.write(
            f"#{idx} has no label yet, so it adds nothing to P = {r['P']:.4f} until the search labels it."
        )
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
        formula, numbers = (
            r"\frac{T_0}{1 + \beta \ln n}",
            rf"\frac{{{r['t0']:g}}}{{1 + {r['beta']:g} \ln {n}}}",
        )
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
