"""Plotly figures and pandas tables built from a run's event log: pure functions, easy to test."""

from __future__ import annotations

import ast
import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

ROLLING = 10  # evaluated proposals in the acceptance-rate window
# one colour per series, so two lines in one panel are told apart (a legend names them)
COLORS = {"U": "#1f77b4", "alpha_P": "#ff7f0e", "I": "#d62728", "rule_violations": "#d62728",
          "proportion_excess": "#9467bd", "temperature": "#8c564b", "acceptance": "#2ca02c",
          "flipped": "#e377c2", "n_labeled": "#7f7f7f", "tokens_per_s": "#bcbd22", "gold_agreement": "#17becf"}  # fmt: skip


def events_frame(events: list[dict[str, Any]], alpha: float) -> pd.DataFrame:
    """One row per iteration with the derived series the charts show.

    acceptance: share accepted among the last ROLLING *evaluated* proposals (a skipped proposal, whose
    label equals the current one, is not a decision); tokens_per_s: only where the model ran.
    """
    df = pd.DataFrame(events)
    if df.empty:
        return df
    df["alpha_P"] = alpha * df["P"]
    df["flipped"] = df["changed"].map(lambda c: len(ast.literal_eval(c)) if c else 0)
    completing = df["phase"] == "complete" if "phase" in df else pd.Series(False, index=df.index)
    df["completing"] = completing  # the completion phase: no proposal to accept or reject
    evaluated = (df["skipped"] == 0) & (df["iteration"] > 0) & ~completing
    df["evaluated"] = evaluated
    rate = df["accepted"][evaluated].astype(float).rolling(ROLLING, min_periods=1).mean()
    df["acceptance"] = rate.reindex(df.index)
    ran = evaluated | (df["iteration"] == 0)
    counted = ran & (df["tokens"] > 0)  # a scorer that counts no tokens (a server, a fake) shows no line
    df["tokens_per_s"] = (df["tokens"] / df["seconds"].where(df["seconds"] > 0)).where(counted)
    return df


def acceptance_counts(df: pd.DataFrame) -> tuple[int, int, int]:
    """(accepted, evaluated, skipped) proposals since the start."""
    if df.empty:
        return 0, 0, 0
    steps = df[(df["iteration"] > 0) & ~df["completing"]]
    evaluated = steps[steps["skipped"] == 0]
    return int(evaluated["accepted"].sum()), len(evaluated), int((steps["skipped"] != 0).sum())


def _panels(
    df: pd.DataFrame, has_gold: bool, parts: bool | None = None
) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(title, y-axis title, [(column, legend name)]) per panel; I is split when the events name its parts
    (`parts`: say so instead of reading it from the events, for a figure with no points yet)."""
    named = [c for c in ("rule_violations", "proportion_excess") if c in df]
    split = named if parts else [c for c in named if parts is None and df[c].notna().any()]
    penalty = [(c, c.replace("_", " ")) for c in split] or [("I", "I")]
    panels = [
        ("U(D) and α·P(D)", "score", [("U", "U"), ("alpha_P", "α·P")]),
        ("Inconsistency I(D)" + (": its parts" if split else ""), "count", penalty),
        ("Temperature", "T", [("temperature", "T")]),
        (f"Acceptance (last {ROLLING} evaluated proposals)", "share accepted", [("acceptance", "accepted")]),
        ("Labels changed per iteration", "labels", [("flipped", "changed")]),
        ("Labeled examples", "examples", [("n_labeled", "labeled")]),
    ]
    if "tokens_per_s" in df and df["tokens_per_s"].notna().any():
        panels.append(("Model tokens / s (evaluated proposals)", "tokens/s", [("tokens_per_s", "tokens/s")]))
    if has_gold:
        panels.append(("Agreement with gold (evaluation only)", "share", [("gold_agreement", "gold")]))
    return panels


# While a search runs its page draws these panels only: U, I, flips and gold (acceptance without gold). A
# first draw of the 8-panel figure costs a headless browser ~1.7 s of CPU, taken from the search it shows.
LIVE_PANELS = ("U(D)", "Inconsistency", "Labels changed", "Agreement with gold")


def progress_figure(
    df: pd.DataFrame,
    *,
    has_gold: bool,
    override_iterations: list[int] | tuple[int, ...] = (),
    live: bool = False,
    parts: bool | None = None,
) -> go.Figure:
    """The dashboard: U and α·P, I, temperature, acceptance, flips, labeled, throughput, gold; with `live`,
    the four of LIVE_PANELS (acceptance in place of gold when there is none).

    Dotted vertical lines mark the iterations at which human overrides were applied.
    """
    panels = _panels(df, has_gold, parts)
    if live:
        wanted = LIVE_PANELS if has_gold else (*LIVE_PANELS[:3], "Acceptance")
        panels = [p for p in panels if p[0].startswith(wanted)]
    rows = (len(panels) + 1) // 2
    fig = make_subplots(
        rows=rows, cols=2, subplot_titles=[p[0] for p in panels], vertical_spacing=0.12 / rows * 4
    )
    last = int(df["iteration"].max()) if not df.empty else 0
    step = max(1, math.ceil(last / 8))  # iterations are whole numbers: no 0.2, 0.4 ticks early on
    for k, (_, y_title, series) in enumerate(panels):
        row, col = k // 2 + 1, k % 2 + 1
        for column, name in series:
            if column in df:
                fig.add_trace(go.Scatter(x=df["iteration"], y=df[column], name=name, mode="lines+markers",
                                         marker=dict(size=4), line=dict(color=COLORS.get(column)),
                                         showlegend=len(series) > 1, legendgroup=str(k),
                                         connectgaps=True), row=row, col=col)  # fmt: skip
        share = y_title.startswith("share")  # a share is read against its whole range
        counted = y_title in ("count", "labels", "examples", "tokens/s")  # never below zero
        fig.update_yaxes(title_text=y_title, range=[-0.02, 1.05] if share else None,
                         rangemode="tozero" if counted else "normal", row=row, col=col)  # fmt: skip
        fig.update_xaxes(title_text="iteration", dtick=step, row=row, col=col)
    _mark_completion(fig, df)
    for n, at in enumerate(sorted(set(override_iterations))):
        fig.add_vline(x=at, line=dict(color="#555", dash="dot", width=1))
        if n == 0:
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="override applied",
                                     line=dict(color="#555", dash="dot")), row=1, col=1)  # fmt: skip
    fig.update_layout(height=270 * rows, margin=dict(l=60, r=20, t=90, b=40),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0 + 0.25 / rows, x=0))  # fmt: skip
    return fig


def empty_live_figure(*, has_gold: bool) -> go.Figure:
    """The live dashboard with its panels and series but no points yet. Drawn while the model loads, so the
    browser lays the panels out then (its costliest draw, ~1 s of CPU) and the first iteration only adds
    points: the series are those the runner records for every iteration, I split into its parts."""
    columns = ("iteration", "U", "alpha_P", "rule_violations", "proportion_excess", "flipped", "acceptance")
    df = pd.DataFrame(
        {c: pd.Series(dtype=float) for c in (*columns, *(("gold_agreement",) if has_gold else ()))}
    )
    return progress_figure(df, has_gold=has_gold, live=True, parts=True)


COMPLETION_FILL = "rgba(120, 120, 120, 0.15)"


def _mark_completion(fig: go.Figure, df: pd.DataFrame) -> None:
    """Shade the completion phase (after the last iteration) in every panel, named in the legend."""
    if df.empty or not df["completing"].any():
        return
    steps = df.loc[df["completing"], "iteration"]
    fig.add_vrect(x0=steps.min() - 0.5, x1=steps.max() + 0.5, fillcolor=COMPLETION_FILL, line_width=0,
                  layer="below", row="all", col="all")  # fmt: skip
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="completion phase",
                             line=dict(color=COMPLETION_FILL, width=10)), row=1, col=1)  # fmt: skip


def chains_figure(events: list[dict[str, Any]], *, kept: int | None = None) -> go.Figure:
    """U per iteration of every restart chain in one panel (the kept chain drawn thicker)."""
    fig = go.Figure()
    chains = sorted({e.get("chain") or 0 for e in events})
    for c in chains:
        mine = [e for e in events if (e.get("chain") or 0) == c]
        name = f"chain {c}" + (" (kept: highest U)" if c == kept else "")
        fig.add_trace(go.Scatter(x=[e["iteration"] for e in mine], y=[e["U"] for e in mine], name=name,
                                 mode="lines", line=dict(width=3 if c == kept else 1.5)))  # fmt: skip
    fig.update_layout(title=f"U(D) of each chain ({len(chains)} restarts)", height=320, margin=dict(t=60),
                      xaxis=dict(title="iteration"), yaxis=dict(title="U"))  # fmt: skip
    return fig


def plot_config() -> dict[str, Any]:
    """Plotly options for every chart: no logo, and the toolbar only on hover (it covered a title)."""
    return {"displaylogo": False, "displayModeBar": "hover"}


def format_duration(seconds: float) -> str:
    """H:MM:SS (hours kept: 5815 s is 1:36:55, not 36:55); under an hour M:SS."""
    total = max(int(round(seconds)), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


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


CEILING = "ceiling (leave-one-out, gold context)"


def baselines_figure(rows: list[dict[str, Any]], metric: str) -> go.Figure:
    """One bar per labeling of the run's examples, ICM highlighted; `metric` "gold_agreement" (the model's
    ceiling drawn as a line) or "U" (under the run's objective; gold's U as a line where known)."""
    line = next((r for r in rows if r["method"] == (CEILING if metric == "gold_agreement" else "gold")), None)
    bars = [r for r in rows if r["method"] not in (CEILING, "gold") and r[metric] is not None]
    spread = "gold_std" if metric == "gold_agreement" else "U_std"
    fig = go.Figure(go.Bar(
        x=[r["method"] for r in bars], y=[r[metric] for r in bars],
        error_y=dict(type="data", array=[r[spread] or 0.0 for r in bars]),
        marker_color=["#d62728" if r["method"] == "ICM" else "#7f9fbf" for r in bars],
        text=[f"{r[metric]:.2f}" for r in bars], textposition="outside",
    ))  # fmt: skip
    if line is not None:
        name = "the model's ceiling" if metric == "gold_agreement" else "U of gold"
        fig.add_hline(y=line[metric], line_dash="dash", line_color="#2ca02c",
                      annotation_text=f"{name} {line[metric]:.2f}", annotation_position="top left")  # fmt: skip
    title = (
        "Agreement with gold"
        if metric == "gold_agreement"
        else "U under the run's objective (higher: preferred)"
    )
    fig.update_layout(title=title, height=360, margin=dict(t=50, b=10), showlegend=False,
                      yaxis=dict(range=[0, 1.1]) if metric == "gold_agreement" else {})  # fmt: skip
    return fig


def sweep_figure(summary: list[dict[str, Any]]) -> go.Figure:
    """Per setting of a sweep: gold agreement (where gold) and U, mean over seeds with ± one std."""
    with_gold = any(s["gold_mean"] is not None for s in summary)
    panels = [("gold_mean", "gold_std", "agreement with gold")] if with_gold else []
    panels.append(("U_mean", "U_std", "U (each run's own objective)"))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[2] for p in panels])
    shown = [s for s in summary if s["runs"]]
    for col, (mean, std, _) in enumerate(panels, start=1):
        fig.add_trace(go.Scatter(
            x=[s["setting"] for s in shown], y=[s[mean] for s in shown], mode="lines+markers",
            error_y=dict(type="data", array=[s[std] or 0.0 for s in shown]),
            text=[f"{s['runs']} runs" for s in shown], name=panels[col - 1][2],
        ), row=1, col=col)  # fmt: skip
    if with_gold:
        fig.update_yaxes(range=[0, 1.05], row=1, col=1)
    fig.update_layout(height=340, margin=dict(t=50, b=10), showlegend=False)
    return fig


def agreement_figure(events: list[dict[str, Any]]) -> go.Figure:
    """Agreement of the labels with gold, per iteration (evaluation only)."""
    points = [e for e in events if e["gold_agreement"] is not None]
    fig = go.Figure(go.Scatter(x=[e["iteration"] for e in points], y=[e["gold_agreement"] for e in points],
                               mode="lines+markers", marker=dict(size=4)))  # fmt: skip
    fig.update_layout(title="Agreement with gold over iterations", height=300, margin=dict(t=60),
                      xaxis=dict(title="iteration"), yaxis=dict(range=[0, 1], title="share agreeing"))  # fmt: skip
    return fig


def confusion_figure(labels: list[int], gold: list[int], words: tuple[str, str]) -> go.Figure:
    """ICM label (rows) against gold (columns), counts."""
    z = [[sum(1 for a, b in zip(labels, gold) if a == r and b == c) for c in (1, 0)] for r in (1, 0)]
    names = [words[0].strip(), words[1].strip()]
    fig = go.Figure(go.Heatmap(z=z, x=[f"gold {n}" for n in names], y=[f"ICM {n}" for n in names],
                               text=z, texttemplate="%{text}", colorscale="Blues", showscale=False))  # fmt: skip
    fig.update_layout(title="ICM labels against gold (counts)", height=300, margin=dict(t=60),
                      yaxis=dict(autorange="reversed"))  # fmt: skip
    return fig


def scale_figure(rounds: list[dict[str, Any]], losses: list[dict[str, Any]]) -> go.Figure:
    """A scalable-ICM job per round (0: the start): labels changed, share of label 1, agreement with gold
    (where the file has it), and each fold's training loss per step."""
    with_gold = any(r["gold_agreement"] is not None for r in rounds)
    titles = ["labels changed", "share of label 1"] + (["agreement with gold"] if with_gold else [])
    titles.append("training loss per fold")
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles)
    x = [r["round"] for r in rounds]
    for col, key in enumerate(["changed", "share_1", "gold_agreement"][: len(titles) - 1], start=1):
        fig.add_trace(go.Scatter(x=x, y=[r[key] for r in rounds], mode="lines+markers", name=titles[col - 1],
                                 marker_color=COLORS["gold_agreement" if key == "gold_agreement" else "U"]),
                      row=1, col=col)  # fmt: skip
        fig.update_xaxes(title_text="round", dtick=1, row=1, col=col)
        fig.update_yaxes(range=[0, 1.05], row=1, col=col)
    for fold in losses:
        fig.add_trace(go.Scatter(y=fold["losses"], mode="lines", name=f"round {fold['round']} fold {fold['fold']}"),
                      row=1, col=len(titles))  # fmt: skip
    fig.update_xaxes(title_text="step", row=1, col=len(titles))
    fig.update_layout(height=340, margin=dict(t=50, b=10), showlegend=False)
    return fig
