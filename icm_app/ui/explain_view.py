"""The pieces of the How ICM decides page that hold logic: the answer chart, the acceptance verdict and
what an explanation costs, so the page only lays them out."""

from __future__ import annotations

import math
import statistics
from typing import Any

import plotly.graph_objects as go

from ..store.sqlite_store import Store
from .charts import format_duration

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
