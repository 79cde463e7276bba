"""Figures and tables of the Compare page: pure functions of compare.py's results, easy to test."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..evaluation.compare import Comparison

# one colour per run, the same in every panel (Plotly's default cycle)
RUN_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
              "#bcbd22", "#17becf")  # fmt: skip
PANELS = (("U", "U(D)", "U"), ("I", "Inconsistency I(D)", "count"),
          ("gold_agreement", "Agreement with gold (evaluation only)", "share"))  # fmt: skip


def curves_figure(df: pd.DataFrame, runs: list[str]) -> go.Figure:
    """U, I and gold agreement per iteration, one line per run in each panel, one colour per run.

    The legend names each run once (its U line); the other panels' lines share its legend group, so a
    click on a run's name hides it everywhere."""
    fig = make_subplots(
        rows=1, cols=len(PANELS), subplot_titles=[p[1] for p in PANELS], horizontal_spacing=0.07
    )
    for k, run in enumerate(runs):
        mine = df[df["run"] == run]
        color = RUN_COLORS[k % len(RUN_COLORS)]
        for col, (column, _, _) in enumerate(PANELS, start=1):
            fig.add_trace(go.Scatter(x=mine["iteration"], y=mine[column], name=run, mode="lines",
                                     line=dict(color=color, width=2), legendgroup=run, showlegend=col == 1,
                                     connectgaps=True), row=1, col=col)  # fmt: skip
    for col, (_, _, y_title) in enumerate(PANELS, start=1):
        share = y_title == "share"
        fig.update_yaxes(title_text=y_title, range=[-0.02, 1.05] if share else None,
                         rangemode="tozero" if y_title == "count" else "normal", row=1, col=col)  # fmt: skip
        fig.update_xaxes(title_text="iteration", row=1, col=col)
    fig.update_layout(height=360, margin=dict(l=60, r=20, t=60, b=40),
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0))  # fmt: skip
    return fig


def examples_table(c: Comparison, *, only_disagreements: bool = False) -> pd.DataFrame:
    """The per-example table for the page: text, each run's label, gold, whether all agree (idx columns
    last). `only_disagreements` keeps the examples that every run labeled, with different labels."""
    table = c.examples
    if only_disagreements:
        table = table[table["all agree"] == False]  # noqa: E712  (None: some run left it unlabeled)
    idx = [f"idx in {n}" for n in c.names]
    return table[["text", *c.names, "gold", "all agree", *idx]]


def summary_table(c: Comparison) -> pd.DataFrame:
    """The per-run summary, the run's name (as the charts' legend shows it) and the numbers first, the long
    model name and the id last (a wide model name would push U and gold agreement out of view)."""
    table = c.summary.assign(name=c.names).rename(columns={"name": "run", "run": "run id"})
    first = [
        "run",
        "seed",
        "alpha",
        "U",
        "I",
        "gold agreement",
        "labeled",
        "examples",
        "iterations",
        "chains",
    ]
    return table[first + [col for col in table.columns if col not in first]]


def agreement_matrix(c: Comparison) -> pd.DataFrame:
    """Pairwise agreement as a table whose first column names the row's run."""
    return c.pairwise.reset_index(names="run")
