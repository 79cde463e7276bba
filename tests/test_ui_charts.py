"""The Run page's figures and numbers, built from event logs."""

from __future__ import annotations

import math

import pandas as pd

from icm_app.ui.charts import acceptance_counts, events_frame, format_duration, progress_figure
from icm_app.worker.process import read_log


def event(i: int, *, accepted: int = 0, skipped: int = 0, tokens: int = 100, **extra) -> dict:
    return {"iteration": i, "U": float(i), "P": 0.1 * i, "I": 1, "temperature": 1.0, "accepted": accepted,
            "skipped": skipped, "changed": "[]", "n_labeled": 8, "gold_agreement": None, "tokens": tokens,
            "seconds": 1.0, "delta": 0.0, **extra}  # fmt: skip


def trajectory() -> list[dict]:
    """Iteration 0, then 20 proposals: 14 skipped (no model call), 6 evaluated of which 4 accepted."""
    evaluated, accepted = (2, 5, 7, 12, 15, 17), (2, 7, 12, 17)
    return [event(0, accepted=1)] + [
        event(i, accepted=int(i in accepted)) if i in evaluated else event(i, skipped=1, tokens=0)
        for i in range(1, 21)
    ]


def test_eta_keeps_the_hours():
    assert format_duration(5815) == "1:36:55"  # was "36:55"
    assert format_duration(59.6) == "1:00" and format_duration(3600) == "1:00:00"


def test_acceptance_is_per_evaluated_proposal_and_skips_are_counted_apart():
    df = events_frame(trajectory(), alpha=50)
    accepted, evaluated, skipped = acceptance_counts(df)
    assert (accepted, evaluated, skipped) == (4, 6, 14)  # the page showed 4/20
    rate = df["acceptance"].dropna()
    assert math.isclose(rate.iloc[-1], accepted / evaluated)  # the last 10 evaluated = all 6 here
    assert df.loc[df["skipped"] == 1, "acceptance"].isna().all()  # a skipped proposal is not a decision


def test_tokens_per_second_is_not_zero_on_skipped_iterations():
    df = events_frame(trajectory(), alpha=50)
    assert df.loc[df["skipped"] == 1, "tokens_per_s"].isna().all()
    assert (df.loc[df["skipped"] == 0, "tokens_per_s"] == 100).all()


def test_figure_has_axis_titles_a_legend_for_two_series_and_override_markers():
    df = events_frame(trajectory(), alpha=50)
    fig = progress_figure(df, has_gold=False, override_iterations=[7, 7, 15])
    layout = fig.layout.to_plotly_json()
    x_titles = [v.get("title", {}).get("text") for k, v in layout.items() if k.startswith("xaxis")]
    y_titles = [v.get("title", {}).get("text") for k, v in layout.items() if k.startswith("yaxis")]
    assert x_titles[:7] == ["iteration"] * 7 and all(y_titles[:7])  # 7 panels (no gold); an 8th cell empty
    no_tokens = events_frame([event(i, tokens=0) for i in range(3)], alpha=50)
    assert "tokens/s" not in {t.name for t in progress_figure(no_tokens, has_gold=False).data}
    u, alpha_p = (t for t in fig.data if t.name in ("U", "α·P"))
    assert u.showlegend and alpha_p.showlegend and u.line.color != alpha_p.line.color
    assert {v.get("dtick") for k, v in layout.items() if k.startswith("xaxis")} - {None} == {
        3
    }  # whole iterations
    assert {s["x0"] for s in layout["shapes"]} == {7, 15}  # one dotted line per override, on every panel
    assert any(t.name == "override applied" for t in fig.data)


def test_inconsistency_is_split_into_its_parts_when_the_events_name_them():
    plain = progress_figure(events_frame(trajectory(), alpha=50), has_gold=False)
    assert "I" in {t.name for t in plain.data}
    named = [event(i, rule_violations=i % 2, proportion_excess=1) for i in range(4)]
    fig = progress_figure(events_frame(named, alpha=50), has_gold=False)
    names = {t.name for t in fig.data}
    assert {"rule violations", "proportion excess"} <= names and "I" not in names


def test_worker_log_reads_progress_bars_as_lines(tmp_path):
    log = tmp_path / "w.log"
    log.write_text("loading\n 10%\r 50%\r100%\nFutureWarning: kept, not silenced\n")
    assert read_log(log, lines=2) == "100%\nFutureWarning: kept, not silenced"
    assert read_log(tmp_path / "absent.log") == ""


def test_events_frame_of_no_events_is_empty():
    assert events_frame([], alpha=50).empty and acceptance_counts(pd.DataFrame()) == (0, 0, 0)
