"""Review: the most suspect labels first, one card at a time, labeled by keyboard.

The order, the card shown and the undo stack are UI state (st.session_state); every label lives in the store,
and every change made here is an override (or, for undo, a restore) in the audit trail.
"""

import getpass

import streamlit as st

from icm_app.evaluation.compare import comparable_runs, label_stability
from icm_app.evaluation.suspects import run_suspects
from icm_app.ui import review_view as view
from icm_app.ui.audit_view import label_history
from icm_app.ui.layout import page_frame
from icm_app.ui.tables import REVIEW_ORDERS, review_order

store, info = page_frame("Review")
run_id = info.id
words = [w.strip() for w in info.task["label_words"]]
examples = {e["idx"]: e for e in store.examples(run_id)}
state = st.session_state


# -- the order and the deck of cards -------------------------------------------------------------------
top = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
order = top[0].selectbox("Order", REVIEW_ORDERS, key=f"review_order_{run_id}")
others = comparable_runs(store, run_id)
compared = top[1].multiselect(
    "Compare with runs of the same texts",
    [r.id for r, _ in others],
    format_func=lambda i: next(f"{r.name} ({n} shared)" for r, n in others if r.id == i),
    key=f"review_compare_{run_id}",
    help="Their labels feed the ranking: a label other runs do not share is more suspect.",
)
k = top[2].number_input("K", 1, max(1, len(examples)), min(10, len(examples)), key=f"review_k_{run_id}")
stability = label_stability(store, run_id, compared) if compared else None
ranking = run_suspects(store, run_id, stability=stability)
suspect = {s.idx: s for s in ranking}
full = review_order(ranking, list(examples), order)

deck_key, pos_key, undo_key = f"review_deck_{run_id}", f"review_pos_{run_id}", f"review_undo_{run_id}"
basis = (order, tuple(compared))
if state.get(f"review_basis_{run_id}") != basis:  # a new order: all cards in it, from the first
    state[f"review_basis_{run_id}"], state[deck_key], state[pos_key] = basis, full, 0
if top[3].button(f"Review the top {k}", key="review_top", type="primary"):
    state[deck_key], state[pos_key] = full[: int(k)], 0
deck = [i for i in state[deck_key] if i in examples]
if not deck:
    st.info("No examples to review.")
    st.stop()
state[pos_key] = pos = min(max(state.get(pos_key, 0), 0), len(deck) - 1)
idx = deck[pos]
info_col, who_col = st.columns([3, 1], vertical_alignment="bottom")
info_col.caption(
    f"{len(deck)} cards, {order}"
    + (f" (the top {len(deck)} of {len(full)})" if len(deck) < len(full) else "")
)
who_col.text_input("Your name (audit trail)", value=state.get("who") or getpass.getuser(), key="review_who")


def change(idx: int, pos: int, new_label: int | None) -> None:
    """An override of the card's example (None unpins), remembered for undo; then the next card."""
    now = store.labels(run_id).get(idx, {"label": None, "pinned": False})
    state.setdefault(undo_key, []).append({"idx": idx, "label": now["label"], "pinned": bool(now["pinned"])})
    state["who"] = who = state["review_who"].strip() or "unknown"  # the field as typed (callbacks run first)
    store.add_override(run_id, idx, new_label, who=who, note="card view")
    state[pos_key] = min(pos + 1, len(deck) - 1)


def go_to(pos: int) -> None:
    state[pos_key] = pos


def undo() -> None:
    """Put back the label and pinned state the last change here replaced, and show that card."""
    last = state[undo_key].pop()
    who = state["review_who"].strip() or "unknown"
    store.restore_label(run_id, last["idx"], last["label"], last["pinned"], who=who, note="undo in the card view")  # fmt: skip
    if last["idx"] in deck:
        state[pos_key] = deck.index(last["idx"])


# -- the card -------------------------------------------------------------------------------------------
current = store.labels(run_id).get(idx, {"label": None, "pinned": False, "score": None})
card, side = st.columns([3, 2])
with card.container(border=True):
    st.subheader(f"Example {idx}")
    st.caption(f"Card {pos + 1} of {len(deck)}")
    for name, value in examples[idx]["fields"].items():
        st.markdown(f"**{name}**")
        st.text(str(value))
    label, s = current["label"], suspect.get(idx)
    view.label_and_evidence(current, s, words)
    keys = view.shortcuts(words)
    labels_row = st.columns(2)
    for col, value, key in ((labels_row[0], 1, keys[0]), (labels_row[1], 0, keys[1])):
        col.button(f"{value} · {words[1 - value]}", key=f"set_{value}", shortcut=key, on_click=change,
                   args=(idx, pos, value), type="primary" if label == value else "secondary", width="stretch")  # fmt: skip
    moves = st.columns(4)
    moves[0].button("Back", key="back", shortcut="Left", disabled=pos == 0, on_click=go_to, args=(pos - 1,),
                    width="stretch")  # fmt: skip
    moves[1].button("Skip", key="skip", shortcut="Right", disabled=pos == len(deck) - 1, on_click=go_to,
                    args=(pos + 1,), width="stretch")  # fmt: skip
    moves[2].button("Undo", key="undo", shortcut="U", disabled=not state.get(undo_key), on_click=undo,
                    width="stretch")  # fmt: skip
    moves[3].button("Unpin", key="unpin", on_click=change, args=(idx, pos, None), disabled=not current["pinned"],
                    help="Let the search decide this label again", width="stretch")  # fmt: skip
    st.caption(f"Keys: {keys[0]} / {keys[1]} set the label, ← back, → skip, U undo.")

with side:
    view.why_suspect(s, ranking)
    view.neighbours(deck, pos, examples, suspect, go_to)

label_history(store, run_id, idx)
