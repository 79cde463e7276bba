"""Replay figures: a run's labels at one iteration as a grid of examples, its U and I curves with the
iteration marked, and the proposal made there. Pure functions over the store's rows (pandas/plotly only).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..io.audit import change_cause, example_text, label_word
from .charts import COLORS

# label 1 (the task's first word), label 0 and no label yet: colour-blind safe blue / orange / grey
LABEL_COLORS = {1: "#1f77b4", 0: "#ff7f0e", None: "#d9d9d9"}
GRID_COLUMNS = 16  # examples per row of the grid (a 32-example run is two rows)


def replay_frame(
    examples: list[dict[str, Any]],
    labels: dict[int, dict[str, Any]],
    changes: list[dict[str, Any]],
    event: dict[str, Any] | None,
    task: dict[str, Any],
) -> pd.DataFrame:
    """One row per example at the replayed iteration: its label and word, pinned, gold and whether gold
    disagrees, whether this iteration changed it (and why), and its text.

    `labels`: `Store.labels_at` for the iteration; `changes`: the label_changes rows of that iteration."""
    changed = {c["idx"]: c for c in changes}
    rows = []
    for e in examples:
        i = e["idx"]
        label = labels.get(i, {}).get("label")
        gold = e.get("gold")
        c = changed.get(i)
        rows.append(
            {
                "idx": i, "label": label, "word": label_word(task, label) or "unlabeled",
                "pinned": bool(labels.get(i, {}).get("pinned")), "gold": gold,
                "gold_disagrees": gold is not None and label is not None and gold != label,
                "changed": c is not None,
                "change": "" if c is None else f"{label_word(task, c['old_label']) or '—'} → "
                f"{label_word(task, c['new_label']) or '—'} ({change_cause(event, i)})",
                "text": example_text(e),
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def labels_grid_figure(
    frame: pd.DataFrame, task: dict[str, Any], *, proposed: int | None = None, columns: int = GRID_COLUMNS
) -> go.Figure:
    """Every example as a square coloured by its label at this iteration: × where gold disagrees, a black
    outline where this iteration changed it, a ring on the proposed example; hover shows the text."""
    columns = max(1, min(columns, len(frame))) if len(frame) else columns
    pos = {i: (k % columns, k // columns) for k, i in enumerate(frame["idx"])} if len(frame) else {}
    fig = go.Figure()
    for label in (1, 0, None):
        part = frame[frame["label"].isna()] if label is None else frame[frame["label"] == label]
        name = label_word(task, label) if label is not None else "unlabeled"
        fig.add_trace(
            go.Scatter(
                x=[pos[i][0] for i in part["idx"]], y=[pos[i][1] for i in part["idx"]], mode="markers",
                name=f"{name} ({len(part)})",
                marker=dict(symbol="square", size=26, color=LABEL_COLORS[label], line=dict(color="#fff", width=1)),
                customdata=part[["idx", "word", "text", "change"]].to_numpy(),
                hovertemplate="#%{customdata[0]}: %{customdata[1]}<br>%{customdata[2]}<br>%{customdata[3]}"
                "<extra></extra>",
            )
        )  # fmt: skip
    changed = frame[frame["changed"]]
    if len(changed):
        fig.add_trace(go.Scatter(x=[pos[i][0] for i in changed["idx"]], y=[pos[i][1] for i in changed["idx"]],
                                 mode="markers", name=f"changed here ({len(changed)})", hoverinfo="skip",
                                 marker=dict(symbol="square-open", size=28, color="#000", line=dict(width=3))))  # fmt: skip
    wrong = frame[frame["gold_disagrees"]]
    if frame["gold"].notna().any():
        fig.add_trace(go.Scatter(x=[pos[i][0] for i in wrong["idx"]], y=[pos[i][1] for i in wrong["idx"]],
                                 mode="markers", name=f"gold disagrees ({len(wrong)})", hoverinfo="skip",
                                 marker=dict(symbol="x-thin", size=16, line=dict(width=2.5, color="#222"))))  # fmt: skip
    pinned = frame[frame["pinned"]]
    if len(pinned):
        fig.add_trace(go.Scatter(x=[pos[i][0] + 0.28 for i in pinned["idx"]], y=[pos[i][1] - 0.28 for i in pinned["idx"]],
                                 mode="markers", name=f"pinned ({len(pinned)})", hoverinfo="skip",
                                 marker=dict(symbol="diamond", size=8, color="#2ca02c")))  # fmt: skip
    if proposed is not None and proposed in pos:
        fig.add_trace(go.Scatter(x=[pos[proposed][0]], y=[pos[proposed][1]], mode="markers", name="proposed here",
                                 hoverinfo="skip", marker=dict(symbol="circle-open", size=38, color="#d62728",
                                                               line=dict(width=3))))  # fmt: skip
    for i, (x, y) in pos.items():
        fig.add_annotation(
            x=x, y=y, text=str(i), showarrow=False, yshift=-20, font=dict(size=9, color="#666")
        )
    rows = (len(frame) + columns - 1) // columns if len(frame) else 1
    fig.update_layout(
        height=120 + 58 * rows, margin=dict(t=30, b=10, l=10, r=10), plot_bgcolor="#fff",
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
        xaxis=dict(visible=False, range=[-0.7, columns - 0.3]),
        yaxis=dict(visible=False, autorange="reversed", scaleanchor="x"),
    )  # fmt: skip
    return fig


def curves_figure(events: list[dict[str, Any]], iteration: int) -> go.Figure:
    """U (and αP) above, I below, over the chain's iterations, with the replayed iteration marked."""
    x = [e["iteration"] for e in events]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4])
    fig.add_trace(go.Scatter(x=x, y=[e["U"] for e in events], name="U", mode="lines",
                             line=dict(color=COLORS["U"])), row=1, col=1)  # fmt: skip
    if all(e.get("alpha") is not None and e.get("P") is not None for e in events):
        fig.add_trace(go.Scatter(x=x, y=[e["alpha"] * e["P"] for e in events], name="αP", mode="lines",
                                 line=dict(color=COLORS["alpha_P"], dash="dot")), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=[e["I"] for e in events], name="I (inconsistencies)", mode="lines",
                             line=dict(color=COLORS["I"], shape="hv")), row=2, col=1)  # fmt: skip
    at = next((e for e in events if e["iteration"] == iteration), None)
    if at is not None:
        fig.add_vline(x=iteration, line=dict(color="#555", dash="dot", width=1))
        fig.add_trace(go.Scatter(x=[iteration], y=[at["U"]], mode="markers", marker=dict(size=10, color=COLORS["U"]),
                                 showlegend=False, hoverinfo="skip"), row=1, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(x=[iteration], y=[at["I"]], mode="markers", marker=dict(size=10, color=COLORS["I"]),
                                 showlegend=False, hoverinfo="skip"), row=2, col=1)  # fmt: skip
    fig.update_layout(height=330, margin=dict(t=30, b=10), legend=dict(orientation="h", y=1.08, x=0))
    fig.update_xaxes(title_text="iteration", row=2, col=1)
    fig.update_yaxes(title_text="U", row=1, col=1)
    fig.update_yaxes(title_text="I", row=2, col=1, rangemode="tozero")
    return fig


def proposal_text(event: dict[str, Any], examples: dict[int, dict[str, Any]], task: dict[str, Any]) -> str:
    """The proposal made at this iteration in one sentence (Markdown): example, old → new, move, ΔU, T,
    accepted or not, phase."""
    phase = event.get("phase") or ("init" if event["iteration"] == 0 else "search")
    if phase == "init":
        return (
            f"**Iteration 0: initial labels.** The search labeled {event.get('n_labeled') or 0} random examples "
            "with balanced random labels, then ran ConsistencyFix."
        )
    i = event.get("proposed")
    if i is None:
        return f"**Iteration {event['iteration']}:** nothing to propose (every example is pinned)."
    text = example_text(examples[i]) if i in examples else ""
    text = text if len(text) <= 140 else text[:139] + "…"
    old, new = (
        label_word(task, event.get("old_label")) or "unlabeled",
        label_word(task, event.get("new_label")),
    )
    delta = event.get("delta") or 0.0
    if phase == "complete":
        return (
            f"**Iteration {event['iteration']} (completion):** example #{i} “{text}” labeled **{new}**, the label "
            f"of higher U (ΔU {delta:+.3f}); always applied."
        )
    move = event.get("move") or "flip"
    what = f"#{i} “{text}” {old} → **{new}**"
    if move == "swap":
        what += f", swapped with #{event.get('partner')} ({label_word(task, 0)} → {label_word(task, 1)})"
    if event.get("skipped"):
        return (
            f"**Iteration {event['iteration']} (search, {move}):** #{i} “{text}”: the model's label equals its "
            f"current one ({old}); nothing to propose."
        )
    temperature = event.get("temperature")
    verdict = "**accepted**" if event.get("accepted") else "**rejected**"
    return (
        f"**Iteration {event['iteration']} (search, {move}):** {what}; ΔU {delta:+.3f} at temperature "
        f"{temperature:.3g} → {verdict}"
        + (f" (ConsistencyFix rounds: {event['fix_rounds']})" if event.get("fix_rounds") else "")
        + "."
    )
