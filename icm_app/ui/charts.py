"""Plotly figures and pandas tables built from a run's event log: pure functions, easy to test."""

from __future__ import annotations

import ast
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

ROLLING = 10  # iterations in the acceptance-rate window


def events_frame(events: list[dict[str, Any]], alpha: float) -> pd.DataFrame:
    """One row per iteration with the derived series the charts show."""
    df = pd.DataFrame(events)
    if df.empty:
        return df
    df["alpha_P"] = alpha * df["P"]
    df["flipped"] = df["changed"].map(lambda c: len(ast.literal_eval(c)) if c else 0)
    tried = (df["skipped"] == 0) & (df["iteration"] > 0)
    df["acceptance"] = df["accepted"].where(tried).rolling(ROLLING, min_periods=1).mean()
    df["tokens_per_s"] = df["tokens"] / df["seconds"].where(df["seconds"] > 0)
    return df


def progress_figure(df: pd.DataFrame, *, has_gold: bool) -> go.Figure:
    """The live dashboard: U and alpha*P, I, temperature, acceptance, flips, labeled, gold, throughput."""
    panels = [
        ("U(D) and α·P", [("U", "U"), ("alpha_P", "α·P")]),
        ("Inconsistencies I(D)", [("I", "I")]),
        ("Temperature", [("temperature", "T")]),
        (f"Acceptance rate (last {ROLLING})", [("acceptance", "accepted")]),
        ("Labels changed per iteration", [("flipped", "changed")]),
        ("Labeled examples", [("n_labeled", "labeled")]),
        ("Model tokens / s", [("tokens_per_s", "tokens/s")]),
    ]
    if has_gold:
        panels.append(("Agreement with gold (evaluation only)", [("gold_agreement", "gold")]))
    rows = (len(panels) + 1) // 2
    fig = make_subplots(rows=rows, cols=2, subplot_titles=[p[0] for p in panels], vertical_spacing=0.08)
    for k, (_, series) in enumerate(panels):
        for column, name in series:
            if column in df:
                fig.add_trace(
                    go.Scatter(x=df["iteration"], y=df[column], name=name, mode="lines", showlegend=False),
                    row=k // 2 + 1,
                    col=k % 2 + 1,
                )
    fig.update_layout(height=260 * rows, margin=dict(l=40, r=20, t=40, b=30))
    return fig


def eta_seconds(df: pd.DataFrame, total_iterations: int) -> float | None:
    """Remaining time from the mean seconds of the last 20 iterations."""
    if df.empty or df["iteration"].max() >= total_iterations:
        return None
    recent = df[df["iteration"] > 0].tail(20)
    if recent.empty:
        return None
    return float(recent["seconds"].mean() * (total_iterations - df["iteration"].max()))


def accuracy_figure(methods: list[dict[str, Any]]) -> go.Figure:
    """The paper's bar chart: held-out accuracy per method, mean over seeds with ± one std."""
    fig = go.Figure(
        go.Bar(
            x=[m["method"] for m in methods],
            y=[m["mean"] for m in methods],
            error_y=dict(type="data", array=[m["std"] for m in methods]),
            text=[f"{m['mean']:.1%}" for m in methods],
            textposition="outside",
        )
    )
    fig.update_layout(yaxis=dict(range=[0, 1.1], title="held-out accuracy"), height=380, margin=dict(t=30))
    return fig


def confusion_figure(labels: list[int], gold: list[int], words: tuple[str, str]) -> go.Figure:
    """ICM label (rows) against gold (columns), counts."""
    z = [[sum(1 for a, b in zip(labels, gold) if a == r and b == c) for c in (1, 0)] for r in (1, 0)]
    names = [words[0].strip(), words[1].strip()]
    fig = go.Figure(go.Heatmap(z=z, x=[f"gold {n}" for n in names], y=[f"ICM {n}" for n in names],
                               text=z, texttemplate="%{text}", colorscale="Blues", showscale=False))  # fmt: skip
    fig.update_layout(height=300, margin=dict(t=20), yaxis=dict(autorange="reversed"))
    return fig
