"""The Review page's pieces that hold logic: keyboard shortcuts, the card's label and evidence, why a label
is suspect and the neighbouring cards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from ..evaluation.suspects import FORMULA, Suspect

NEIGHBOURS = 3  # cards shown on each side of the current one


def shortcuts(words: list[str]) -> list[str]:
    """Keys for label 1 and label 0: the words' initials when they differ and are free, else 1 and 0."""
    initials = [w[:1].upper() for w in words]
    taken = {"C", "R", "U"}  # C and R are Streamlit's own; U is undo
    if all(i.isalpha() and i not in taken for i in initials) and initials[0] != initials[1]:
        return initials
    return ["1", "0"]


def label_and_evidence(current: dict[str, Any], s: Suspect | None, words: list[str]) -> None:
    """The card's label (who set it) and the model's probability of each label word."""
    label = current["label"]
    st.markdown(
        "Label: " + ("**unlabeled**" if label is None else f"**{label} ({words[1 - label]})**")
        + (" · pinned by a human" if current["pinned"] else " · set by the search")
    )  # fmt: skip
    if s is not None and s.p_label1 is not None:
        cols = st.columns(2)
        cols[0].metric(f"P({words[0]})", f"{s.p_label1:.2f}")
        cols[1].metric(f"P({words[1]})", f"{1 - s.p_label1:.2f}")
        st.caption(
            "The model's probability of each label word, given all the other labels as demonstrations."
        )
    else:
        st.caption("No model probability yet: the search has not scored this example.")


def why_suspect(s: Suspect | None, ranking: list[Suspect]) -> None:
    """The suspicion score and each signal behind it (no gold in any of them)."""
    st.markdown("**Why it is suspect**")
    if s is None:
        st.caption("Unlabeled: nothing to suspect yet.")
    else:
        st.write(
            f"Suspicion **{s.suspicion:.2f}** (rank {ranking.index(s) + 1} of {len(ranking)}): {s.reason}."
        )
        st.caption(f"Ranked without gold: {FORMULA}.")
        st.dataframe([
            {"signal": "log-odds against the label", "value": "no score" if s.against is None else f"{s.against:.2f}"},
            {"signal": "flips", "value": str(s.flips)},
            {"signal": "violated rules", "value": ", ".join(s.violated) or "none"},
            {"signal": "chain agreement",
             "value": "one chain" if s.chain_disagreement is None else f"{1 - s.chain_disagreement:.0%}"},
            {"signal": "agreement of compared runs",
             "value": "none compared" if s.run_disagreement is None else f"{1 - s.run_disagreement:.0%}"},
        ], hide_index=True)  # fmt: skip


def neighbours(deck: list[int], pos: int, examples: dict[int, dict[str, Any]], suspect: dict[int, Suspect],
               go_to: Callable[[int], None]) -> None:  # fmt: skip
    """The cards around the current one in this order, each a button to it."""
    st.markdown("**Neighbours in this order**")
    for i in range(max(0, pos - NEIGHBOURS), min(len(deck), pos + NEIGHBOURS + 1)):
        n = deck[i]
        text = " | ".join(map(str, examples[n]["fields"].values()))
        mark = "▶ " if i == pos else ""
        score = f"{suspect[n].suspicion:.2f}" if n in suspect else "unlabeled"
        st.button(f"{mark}{i + 1}. #{n} · {score} · {text[:50]}", key=f"goto_{n}", disabled=i == pos,
                  on_click=go_to, args=(i,), width="stretch")  # fmt: skip
