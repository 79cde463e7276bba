"""How long a running search has left, from its own iterations.

An iteration's cost grows with the labeled set (every labeled example is a context and a target of P), so
a mean of recent iterations underestimates a run that is still labeling: the estimate fits seconds against
the labeled count, extrapolates the labeling rate, adds the completion phase (one step per example still
unlabeled when the iterations end), and counts down between iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

WINDOW = 30  # recent evaluated iterations the cost model is fitted on
# A completion step evaluates U for both labels of one example, an iteration for one proposal: until the
# phase's own steps are timed, a step is taken to cost two iterations at the same labeled count.
COMPLETION_STEP = 2.0


@dataclass(frozen=True)
class Eta:
    seconds: float
    completion_steps: int  # steps of the completion phase counted in `seconds`


def estimate(
    df: pd.DataFrame,
    *,
    iterations: int,
    n_examples: int,
    complete: bool,
    since_last: float = 0.0,
    chains_left: int = 0,
) -> Eta | None:
    """Seconds left for the shown chain (and `chains_left` more like it), or None before there is
    anything to go on. `since_last`: seconds since the last iteration was written (the countdown)."""
    if df.empty:
        return None
    search = df[(df["iteration"] > 0) & ~df["completing"]]
    done = int(search["iteration"].max()) if not search.empty else 0
    n_now = int(df["n_labeled"].iloc[-1])
    evaluated = search[search["skipped"] == 0].tail(WINDOW)
    if evaluated.empty:
        return None
    cost = _cost_model(evaluated)
    recent = search.tail(WINDOW)
    skipped = float(recent["skipped"].astype(bool).mean())
    left = max(iterations - done, 0)
    rate = _labeling_rate(search.tail(WINDOW))
    total, n = 0.0, float(n_now)
    for _ in range(left):
        n = min(n + rate, n_examples)
        total += (1 - skipped) * cost(n)
    completing = df[df["completing"]]
    if completing.empty:
        steps = max(n_examples - round(n), 0) if complete else 0
        total += sum(COMPLETION_STEP * cost(min(round(n) + k, n_examples)) for k in range(steps))
    else:  # under way: one step per example still unlabeled, at the phase's own pace
        steps = max(n_examples - n_now, 0)
        total = steps * float(completing["seconds"].tail(WINDOW).mean())
    chain = total
    if chains_left:  # a later chain costs about what this one costs in all
        chain_done = float(df.loc[df["iteration"] > 0, "seconds"].sum())
        total += chains_left * (chain_done + chain)
    return Eta(max(total - since_last, 0.0), steps)


def _cost_model(evaluated: pd.DataFrame):
    """seconds ≈ a + b·labeled, least squares over the window (a mean when the count has not moved);
    never below the cheapest iteration seen, never negative in slope."""
    x = evaluated["n_labeled"].astype(float)
    y = evaluated["seconds"].astype(float)
    floor = float(y.min())
    if x.nunique() < 3:
        mean = float(y.mean())
        return lambda n: mean
    slope = max(float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()), 0.0)
    intercept = float(y.mean()) - slope * float(x.mean())
    return lambda n: max(intercept + slope * n, floor)


def _labeling_rate(recent: pd.DataFrame) -> float:
    """Examples newly labeled per iteration over the window (never negative)."""
    if len(recent) < 2:
        return 0.0
    span = float(recent["iteration"].iloc[-1] - recent["iteration"].iloc[0])
    gained = float(recent["n_labeled"].iloc[-1] - recent["n_labeled"].iloc[0])
    return max(gained / span, 0.0) if span > 0 else 0.0
