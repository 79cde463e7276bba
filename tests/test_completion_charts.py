"""The Run page's charts for the completion phase and restart chains."""

from __future__ import annotations

from icm_app.ui.charts import acceptance_counts, chains_figure, events_frame, progress_figure


def event(i: int, phase: str = "search", chain: int = 0, **extra) -> dict:
    return {"iteration": i, "U": float(i), "P": 0.1, "I": 0, "temperature": None if phase == "complete" else 1.0,
            "accepted": 1, "skipped": 0, "changed": "[1]", "n_labeled": 8, "gold_agreement": None,
            "tokens": 0, "seconds": 1.0, "delta": 0.0, "phase": phase, "chain": chain, **extra}  # fmt: skip


def test_completion_steps_are_not_proposals_and_are_shaded():
    events = [event(0, "init")] + [event(i, accepted=i % 2) for i in range(1, 5)]
    events += [event(i, "complete") for i in range(5, 8)]
    df = events_frame(events, alpha=50)
    assert acceptance_counts(df) == (2, 4, 0)  # the 3 completion steps are neither accepted nor evaluated
    assert df.loc[df["completing"], "acceptance"].isna().all()
    fig = progress_figure(df, has_gold=False)
    shaded = [s for s in fig.layout.shapes if s.type == "rect"]
    assert shaded and {(s.x0, s.x1) for s in shaded} == {(4.5, 7.5)}
    assert "completion phase" in [t.name for t in fig.data]


def test_no_shading_without_a_completion_phase_or_for_old_events():
    old = [{k: v for k, v in event(i).items() if k not in ("phase", "chain")} for i in range(4)]
    for events in ([event(i) for i in range(4)], old):
        fig = progress_figure(events_frame(events, alpha=50), has_gold=False)
        assert not [s for s in fig.layout.shapes if s.type == "rect"]
        assert "completion phase" not in [t.name for t in fig.data]


def test_chains_figure_draws_one_u_curve_per_chain_and_names_the_kept_one():
    events = [event(i, chain=c, U=float(c * 10 + i)) for c in range(3) for i in range(4)]
    fig = chains_figure(events, kept=1)
    assert [t.name for t in fig.data] == ["chain 0", "chain 1 (kept: highest U)", "chain 2"]
    assert list(fig.data[2].y) == [20.0, 21.0, 22.0, 23.0] and fig.data[1].line.width == 3
    assert "3 restarts" in fig.layout.title.text
