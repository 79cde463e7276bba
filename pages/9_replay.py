"""Replay: a run's labels at any iteration of a chain, with U, I and the proposal made there."""

import streamlit as st

from icm_app.io.audit import audit_csv, audit_rows, example_text, label_history_rows
from icm_app.ui.charts import plot_config
from icm_app.ui.layout import page_frame
from icm_app.ui.live import rerun_when_changed, run_version
from icm_app.ui.replay import curves_figure, labels_grid_figure, proposal_text, replay_frame
from icm_app.ui.scale_view import stop_if_scale_run
from icm_app.ui.tables import history_table
from icm_app.worker.process import is_alive

store, info = page_frame("Replay")
stop_if_scale_run(store, info)
version = run_version(store, info.id, is_alive)
seen = version()
if not store.has_history(info.id):
    st.warning(
        "This run cannot be replayed: it was recorded before label history existed (store migration 8), so "
        "its labels at earlier iterations are unknown. Runs created from now on can be replayed."
    )
    st.stop()

chains = sorted({e["chain"] or 0 for e in store.all_events(info.id)})
chain = info.chain
if len(chains) > 1:
    shown = " (running)" if info.status == "running" else " (kept: highest U)"
    names = {c: f"chain {c}" + (shown if c == info.chain else "") for c in chains}
    chain = st.selectbox("Chain", chains, index=chains.index(info.chain) if info.chain in chains else 0,
                         format_func=names.get, key="replay_chain", help="Each restart is its own chain.")  # fmt: skip


def step(key: str, by: int, low: int, high: int) -> None:
    st.session_state[key] = min(high, max(low, st.session_state.get(key, high) + by))


@st.fragment
def replay(chain: int) -> None:
    """Its own fragment, so the slider and buttons redraw only this part; while the worker lives, the page
    reruns when an iteration is committed, so a running run's slider grows."""
    events = store.events(info.id, chain)
    if not events:
        st.info("No iteration recorded yet for this chain.")
        return
    first, last = events[0]["iteration"], events[-1]["iteration"]
    key = f"replay_iteration_{chain}"
    if not first <= st.session_state.get(key, -1) <= last:
        st.session_state[key] = last  # the newest iteration first (no widget default: the buttons set it)
    left, mid, right = st.columns([1, 12, 1], vertical_alignment="bottom")
    left.button(
        "◀", key=f"replay_prev_{chain}", on_click=step, args=(key, -1, first, last), help="Previous iteration"
    )
    right.button(
        "▶", key=f"replay_next_{chain}", on_click=step, args=(key, 1, first, last), help="Next iteration"
    )
    if first == last:
        iteration = first
        mid.caption(f"Iteration {first} (the only one so far)")
    else:
        iteration = mid.slider("Iteration", first, last, key=key)
    event = next(e for e in events if e["iteration"] == iteration)
    examples = store.examples(info.id)
    labels = store.labels_at(info.id, iteration, chain)
    changes = store.label_changes(info.id, chain, iteration)
    frame = replay_frame(examples, labels, changes, event, info.task)
    cols = st.columns(5)
    cols[0].metric("U", f"{event['U']:.2f}")
    alpha = event.get("alpha")
    cols[1].metric("αP", f"{alpha * event['P']:.2f}" if alpha is not None else "—",
                   help=f"α = {alpha}, P = {event['P']:.3f} (mutual predictability)" if alpha else None)  # fmt: skip
    cols[2].metric("I (inconsistencies)", event["I"])
    cols[3].metric("Labeled", f"{len(labels)} / {len(examples)}")
    has_gold = frame["gold"].notna().any()
    agree = event.get("gold_agreement")
    cols[4].metric("Gold agreement", f"{agree:.0%}" if agree is not None else "—",
                   help="Evaluation only: the search never sees gold.")  # fmt: skip
    st.markdown(proposal_text(event, {e["idx"]: e for e in examples}, info.task))
    st.plotly_chart(labels_grid_figure(frame, info.task, proposed=event.get("proposed")), config=plot_config(),
                    key=f"replay_grid_{chain}")  # fmt: skip
    st.caption(
        "Each square is one example (its number below), coloured by its label at this iteration"
        + (", × where gold disagrees" if has_gold else "")
        + "; black frame: changed at this iteration; red ring: the example proposed here; green diamond: pinned."
    )
    st.plotly_chart(curves_figure(events, iteration), config=plot_config(), key=f"replay_curves_{chain}")
    changed = frame[frame["changed"]]
    if len(changed):
        st.dataframe(changed[["idx", "change", "word", "text"]].rename(columns={"word": "label now"}),
                     hide_index=True, key=f"replay_changes_{chain}")  # fmt: skip


replay(chain)

st.subheader("Label history of one example")
examples = {e["idx"]: e for e in store.examples(info.id)}
idx = st.selectbox("Example", list(examples), key="replay_history_idx",
                   format_func=lambda i: f"#{i}: {example_text(examples[i])[:90]}")  # fmt: skip
history = label_history_rows(store, info.id, idx)
st.dataframe(history_table(history), hide_index=True, key="replay_history")
st.caption("Every change of this example's label or pin in every chain, and what caused it: init (the random start),"
           " search flip, swap, ConsistencyFix, completion, or a person's override / restore (undo).")  # fmt: skip
audit = audit_rows(store, info.id)
st.download_button(f"Download the audit trail (CSV, {len(audit)} overrides and undos)", audit_csv(store, info.id),
                   file_name=f"{info.id}-audit.csv", mime="text/csv", key="replay_audit_csv",
                   icon=":material/download:")  # fmt: skip
if is_alive(info.worker_pid):
    rerun_when_changed(version, seen)
