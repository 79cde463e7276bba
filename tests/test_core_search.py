"""The search logic on a fake scorer: Algorithm 1 and 2 as DESIGN §1 specifies, and each known defect."""

from __future__ import annotations

import math

import pytest
from conftest import FakeScorer, hashed_signal, make_examples

from icm_app.core.annealing import Annealer, SearchState
from icm_app.core.config import SearchConfig
from icm_app.core.consistency import Violation
from icm_app.core.objective import mean_logodds, sum_logprob
from icm_app.core.schedules import acceptance_probability, exp_schedule, log_schedule


def annealer(n=12, iterations=30, rules=(), group_size=0, signal=None, **cfg) -> Annealer:
    examples = make_examples(n, group_size)
    scorer = FakeScorer(signal or hashed_signal(n))
    return Annealer(examples, scorer, SearchConfig(iterations=iterations, **cfg), rules=rules)


def test_initial_labels_are_k_balanced_random():
    a = annealer(n=20, k_init=8, fix_rounds=0)
    a.initialize()
    assert len(a.labels) == 8 and sum(a.labels.values()) == 4


def test_log_schedule_uses_beta_and_iteration_count_not_accepted_flips():
    assert log_schedule(1, t0=10, t_min=0.01, beta=0.99) == 10
    assert log_schedule(100, t0=10, t_min=0.01, beta=0.99) == pytest.approx(10 / (1 + 0.99 * math.log(100)))
    assert log_schedule(100, t0=10, t_min=0.01, beta=0.5) != log_schedule(100, t0=10, t_min=0.01, beta=0.99)
    a = annealer(iterations=25)
    results = [a.step() for _ in range(25)]
    for r in results:  # skipped and rejected iterations advance the schedule too
        assert r.temperature == pytest.approx(log_schedule(r.iteration, t0=10, t_min=0.01, beta=0.99))
    assert [r.iteration for r in results] == list(range(1, 26))


def test_exp_schedule_and_acceptance_never_overflow():
    assert exp_schedule(10**9, t0=10, t_min=0.01, beta=0.99) == 0.01
    assert acceptance_probability(-1e308, 1e-300) < 1e-300
    assert acceptance_probability(1e308, 1e-300) == 1.0
    assert acceptance_probability(-1.0, 1.0) == pytest.approx(math.exp(-1))


def test_p_modes_are_named_and_differ():
    labels, lo = {0: 1, 1: 0}, {0: 2.0, 1: 1.0}
    assert mean_logodds(labels, lo) == pytest.approx((2.0 - 1.0) / 2)
    expected = -math.log1p(math.exp(-2.0)) + -math.log1p(math.exp(1.0))
    assert sum_logprob(labels, lo) == pytest.approx(expected)
    assert SearchConfig().p_mode == "mean_logodds"


def test_proposal_is_argmax_not_sampled():
    """A sampler would pick the minority label ~48% of the time at P(1)=0.52; argmax never does."""
    signal = {i: 0.08 for i in range(10)}
    a = annealer(n=10, iterations=60, signal=signal, k_init=2)
    a.objective.scorer.coupling = 0.0
    results = [a.step() for _ in range(60)]
    assert all(r.new_label == 1 for r in results if r.proposed is not None)


def test_search_keeps_going_after_everything_is_labeled():
    a = annealer(n=4, iterations=40, k_init=4)
    for _ in range(40):
        a.step()
    assert len(a.labels) == 4 and a.state.iteration == 40 and a.done


def test_noop_proposal_is_skipped_without_evaluation():
    a = annealer(n=6, iterations=5, k_init=6, fix_rounds=0)
    a.initialize()
    before = a.objective.evaluations
    skipped = [r for r in (a.step() for _ in range(5)) if r.skipped]
    assert skipped, "with every example labeled by argmax-agreeing signal some proposal must be a no-op"
    assert a.objective.evaluations - before == 5 - len(skipped)


def test_consistency_fix_tries_every_option_and_takes_the_best():
    """Exclusive pair (a, b): options (1,0), (0,1), (0,0). The fake signal makes (0,0) best, which a
    two-option or first-improvement fix would miss."""
    examples = make_examples(2, group_size=2)  # keys a, b in one group
    scorer = FakeScorer({0: -3.0, 1: -3.0}, coupling=0.0)
    a = Annealer(examples, scorer, SearchConfig(fix_rounds=1), rules=("exclusive",))
    labels = {0: 1, 1: 1}
    fixed, evaluation, _ = a.consistency_fix(labels, None)
    assert fixed == {0: 0, 1: 0}
    assert evaluation.I == 0
    assert labels == {0: 1, 1: 1}, "the caller's label set must not be mutated"


def test_asymmetric_rule_flags_both_true_and_both_false():
    from icm_app.core.consistency import find_violations, group_members

    ex = make_examples(2, group_size=2, keyed=False)
    groups = group_members(ex)
    assert find_violations(groups, {0: 1, 1: 1}, ["asymmetric"]) == [Violation("asymmetric", (0, 1))]
    assert find_violations(groups, {0: 0, 1: 0}, ["asymmetric"]) == [Violation("asymmetric", (0, 1))]
    assert find_violations(groups, {0: 1, 1: 0}, ["asymmetric"]) == []


def test_one_of_k_counts_true_pairs_and_empty_full_groups():
    from icm_app.core.consistency import find_violations, group_members

    groups = group_members(make_examples(3, group_size=3, keyed=False))
    assert len(find_violations(groups, {0: 1, 1: 1, 2: 1}, ["one_of_k"])) == 3
    assert find_violations(groups, {0: 0, 1: 0, 2: 0}, ["one_of_k"]) == [Violation("one_of_k", (0, 1, 2))]
    assert find_violations(groups, {0: 0, 1: 0}, ["one_of_k"]) == []  # group not fully labeled
    assert find_violations(groups, {0: 1, 1: 0, 2: 0}, ["one_of_k"]) == []


def test_pins_are_never_changed_by_search_or_fix():
    a = annealer(n=12, iterations=40, rules=("exclusive",), group_size=3)
    a.pin(0, 1)
    a.pin(1, 1)  # 0 and 1 have different keys in one group: an exclusive violation the fix cannot resolve
    for _ in range(40):
        r = a.step()
        assert r.proposed not in (0, 1)
        assert a.labels[0] == 1 and a.labels[1] == 1


def test_state_round_trip_resumes_the_exact_trajectory():
    straight = annealer(iterations=30, rules=("exclusive",), group_size=3)
    path_a = [straight.step() for _ in range(30)]
    first = annealer(iterations=30, rules=("exclusive",), group_size=3)
    for _ in range(12):
        first.step()
    state = SearchState.from_dict(first.snapshot().to_dict())
    second = Annealer(first.objective.scorer and make_examples(12, 3), FakeScorer(hashed_signal(12)),
                      SearchConfig(iterations=30), rules=("exclusive",), state=state)  # fmt: skip
    path_b = [second.step() for _ in range(18)]
    assert [(r.proposed, r.accepted, round(r.delta, 9)) for r in path_a[12:]] == [
        (r.proposed, r.accepted, round(r.delta, 9)) for r in path_b
    ]
    assert second.labels == straight.labels


def test_same_seed_same_run_and_other_seed_differs():
    def run(seed):
        a = annealer(iterations=20, seed=seed)
        return [(r.proposed, r.accepted) for r in (a.step() for _ in range(20))]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_group_mates_of_labeled_examples_are_sampled_more():
    a = annealer(n=60, iterations=0, rules=("exclusive",), group_size=3, k_init=2, fix_rounds=0)
    a.initialize()
    candidates = list(a.state.order)
    weights = dict(zip(candidates, a._sampling_weights(candidates)))
    labeled_groups = {a.examples[i].group for i in a.labels}
    for i, w in weights.items():
        boosted = i not in a.labels and a.examples[i].group in labeled_groups
        assert w == (100.0 if boosted else 1.0)


def test_config_rejects_bad_values_naming_the_field():
    with pytest.raises(ValueError, match="t_min"):
        SearchConfig(t_min=0)
    with pytest.raises(ValueError, match="p_mode"):
        SearchConfig(p_mode="median")
    with pytest.raises(ValueError, match="unknown consistency rule"):
        annealer(rules=("transitive",))
