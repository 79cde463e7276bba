"""The Run page's ETA: it must grow with the labeled set, include the completion phase, count down between
iterations and vanish only when nothing is left (the ETA said 3:43 where the search took 16:34, and 0:00
at iteration 1 of 20)."""

import pandas as pd
import pytest

from icm_app.ui.eta import COMPLETION_STEP, estimate


def frame(rows: list[tuple[int, int, float, bool, bool]]) -> pd.DataFrame:
    """(iteration, labeled, seconds, skipped, completing) per event; iteration 0 is the initialization."""
    return pd.DataFrame(
        [dict(iteration=i, n_labeled=n, seconds=s, skipped=int(k), completing=c) for i, n, s, k, c in rows]
    )


def test_cost_grows_with_the_labeled_set_and_labeling_continues():
    # 1 s per labeled example, one new label per iteration: iterations 1..4 cost 9, 10, 11, 12 s
    df = frame([(0, 8, 0.0, False, False)] + [(i, 8 + i, 8.0 + i, False, False) for i in range(1, 5)])
    eta = estimate(df, iterations=10, n_examples=100, complete=False)
    expected = sum(12.0 + j for j in range(1, 7))  # labeled 13..18 over the 6 iterations left
    assert eta.seconds == pytest.approx(expected)
    flat_mean = df["seconds"][1:].mean() * 6  # what a mean of recent iterations says
    assert eta.seconds > flat_mean


def test_the_completion_phase_is_counted_one_step_per_example_left_unlabeled():
    df = frame([(0, 4, 0.0, False, False)] + [(i, 4, 2.0, False, False) for i in range(1, 4)])
    without = estimate(df, iterations=5, n_examples=10, complete=False)
    with_completion = estimate(df, iterations=5, n_examples=10, complete=True)
    assert without.seconds == pytest.approx(2 * 2.0) and without.completion_steps == 0
    assert with_completion.completion_steps == 6  # 10 examples, 4 labeled, no labeling seen
    assert with_completion.seconds == pytest.approx(4.0 + 6 * COMPLETION_STEP * 2.0)


def test_during_the_completion_phase_its_own_steps_set_the_pace():
    rows = [(0, 4, 0.0, False, False), (1, 4, 1.0, False, False), (2, 4, 1.0, False, False)]
    rows += [(3, 5, 7.0, False, True), (4, 6, 7.0, False, True)]
    eta = estimate(frame(rows), iterations=2, n_examples=10, complete=True)
    assert eta.completion_steps == 4 and eta.seconds == pytest.approx(4 * 7.0)


def test_skipped_proposals_cost_nothing_and_the_estimate_counts_down():
    rows = [(0, 4, 0.0, False, False), (1, 4, 3.0, False, False), (2, 4, 0.0, True, False)]
    rows += [(3, 4, 3.0, False, False), (4, 4, 0.0, True, False)]
    df = frame(rows)
    eta = estimate(df, iterations=8, n_examples=4, complete=True)
    assert eta.seconds == pytest.approx(4 * 0.5 * 3.0)  # half the proposals are skipped
    later = estimate(df, iterations=8, n_examples=4, complete=True, since_last=2.0)
    assert later.seconds == pytest.approx(eta.seconds - 2.0)
    assert estimate(df, iterations=8, n_examples=4, complete=True, since_last=99).seconds == 0.0


def test_restart_chains_still_to_run_are_added():
    df = frame([(0, 4, 0.0, False, False), (1, 4, 2.0, False, False), (2, 4, 2.0, False, False)])
    one = estimate(df, iterations=4, n_examples=4, complete=False)
    two = estimate(df, iterations=4, n_examples=4, complete=False, chains_left=1)
    assert two.seconds == pytest.approx(one.seconds + (4.0 + one.seconds))


def test_no_estimate_before_an_evaluated_iteration():
    assert estimate(pd.DataFrame(), iterations=5, n_examples=4, complete=True) is None
    only_skips = frame([(0, 4, 0.0, False, False), (1, 4, 0.0, True, False)])
    assert estimate(only_skips, iterations=5, n_examples=4, complete=True) is None
