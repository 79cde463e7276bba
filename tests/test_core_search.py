"""The search logic on a fake scorer: Algorithm 1 and 2 as DESIGN §1 specifies, and each known defect."""

from __future__ import annotations

import itertools
import json
import math

import pytest
from conftest import FakeScorer, hashed_signal, make_examples

from icm_app.core.annealing import Annealer, SearchState
from icm_app.core.config import SearchConfig
from icm_app.core.consistency import Violation
from icm_app.core.predictability import mean_logodds, sum_logprob
from icm_app.core.schedules import acceptance_probability, exp_schedule, log_schedule
from icm_app.core.types import Example


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


def test_consistency_fix_takes_the_best_option_not_the_first_improving_one():
    """Catches: ConsistencyFix taking the first improving option instead of the best.

    Exclusive pair (a, b) labeled (1, 1): options are enumerated (0,0), (0,1), (1,0). All three beat the
    current U; U rises along the enumeration order, so the best, (1, 0), is listed last."""
    examples = make_examples(2, group_size=2)  # keys a, b in one group
    scorer = FakeScorer({0: 3.0, 1: 1.0}, coupling=0.0)
    a = Annealer(examples, scorer, SearchConfig(fix_rounds=1, alpha=0.1), rules=("exclusive",))
    labels = {0: 1, 1: 1}
    u = {o: a.objective.evaluate(dict(zip((0, 1), o))).U for o in [(1, 1), (0, 0), (0, 1), (1, 0)]}
    assert u[(1, 1)] < u[(0, 0)] < u[(0, 1)] < u[(1, 0)]  # every option improves; the last is best
    fixed, evaluation, rounds = a.consistency_fix(labels, None)
    assert fixed == {0: 1, 1: 0} and rounds == 1
    assert evaluation.U == pytest.approx(u[(1, 0)]) and evaluation.I == 0
    assert labels == {0: 1, 1: 1}, "the caller's label set must not be mutated"


def test_consistency_fix_enumerates_every_option_not_only_two():
    """Catches: a two-option fix (flip one member or the other). (0, 0) is the best option here."""
    examples = make_examples(2, group_size=2)
    scorer = FakeScorer({0: -3.0, 1: -3.0}, coupling=0.0)
    a = Annealer(examples, scorer, SearchConfig(fix_rounds=1), rules=("exclusive",))
    fixed, evaluation, _ = a.consistency_fix({0: 1, 1: 1}, None)
    assert fixed == {0: 0, 1: 0} and evaluation.I == 0


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
    second = Annealer(make_examples(12, 3), FakeScorer(hashed_signal(12)), SearchConfig(iterations=30),
                      rules=("exclusive",), state=state)  # fmt: skip
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


def test_group_mates_of_labeled_examples_are_proposed_about_100x_more_often():
    """Catches: uniform sampling (no x100 weight for group-mates). Observed through step(): after K=2
    labels, 4 unlabeled group-mates compete with 54 other examples. Weighted x100 a group-mate is
    proposed with probability 400/458 = 0.87; uniformly, 4/60 = 0.07."""
    hits = 0
    for seed in range(40):
        a = annealer(
            n=60, iterations=1, rules=("exclusive",), group_size=3, k_init=2, fix_rounds=0, seed=seed
        )
        a.initialize()
        labeled_groups = {a.examples[i].group for i in a.labels}
        before = set(a.labels)
        proposed = a.step().proposed
        hits += proposed not in before and a.examples[proposed].group in labeled_groups
    assert hits >= 28, f"group-mates proposed {hits}/40 times"


def test_config_rejects_bad_values_naming_the_field():
    with pytest.raises(ValueError, match="t_min"):
        SearchConfig(t_min=0)
    with pytest.raises(ValueError, match="p_mode"):
        SearchConfig(p_mode="median")
    with pytest.raises(ValueError, match="unknown consistency rule"):
        annealer(rules=("transitive",))


# -- the planted bugs: each test names the bug it catches --------------------------------
def pair_annealer(signal, *, alpha=1.0, **cfg) -> Annealer:
    """One asymmetric pair (exactly one True), flat context: U depends only on the signal and the rule."""
    examples = make_examples(2, group_size=2, keyed=False)
    config = SearchConfig(alpha=alpha, iterations=50, **cfg)
    return Annealer(examples, FakeScorer(signal, coupling=0.0), config, rules=("asymmetric",))


def test_a_worse_proposal_is_rejected_at_low_temperature():
    """Catches: every proposal accepted. At T = 0.01 a proposal with delta = -0.5 is accepted with
    probability exp(-50): over 50 iterations none may be."""
    a = pair_annealer({0: 0.5, 1: 0.5}, t0=0.01, t_min=0.01, fix_rounds=0)
    a.state.labels = {0: 1, 1: 0}  # consistent; the argmax proposal for 1 is True, making both True
    results = [a.step() for _ in range(50)]
    tried = [r for r in results if not r.skipped]
    assert tried and all(r.delta == pytest.approx(-0.5) for r in tried)  # P: 0 -> 0.5, one violation
    assert not any(r.accepted for r in tried)
    assert a.labels == {0: 1, 1: 0}


def test_delta_is_new_u_minus_old_u_and_improvements_are_accepted():
    """Catches: the sign of delta flipped. From the inconsistent (1, 1) the argmax proposal (0 for example
    1) removes the violation: delta = U(new) - U(old) > 0, accepted even at the lowest temperature."""
    a = pair_annealer({0: 2.0, 1: -2.0}, t0=0.01, t_min=0.01, fix_rounds=0)
    a.state.labels = {0: 1, 1: 1}
    old = a.objective.evaluate({0: 1, 1: 1}).U
    new = a.objective.evaluate({0: 1, 1: 0}).U
    result = next(r for r in (a.step() for _ in range(20)) if r.proposed == 1)
    assert (result.old_label, result.new_label) == (1, 0)
    assert result.delta == pytest.approx(new - old) and result.delta > 0
    assert result.accepted and a.labels == {0: 1, 1: 0}
    assert result.evaluation.U == pytest.approx(new)


def test_metropolis_accepts_a_worse_proposal_at_high_temperature_about_exp_delta_over_t():
    """Catches: rejecting every non-improving proposal (pure hill climbing). delta = -0.5 at T = 10:
    accepted with probability exp(-0.05) = 0.95 per try."""
    accepted = 0
    for seed in range(40):
        a = pair_annealer({0: 0.5, 1: 0.5}, t0=10.0, t_min=10.0, fix_rounds=0, seed=seed)
        a.state.labels = {0: 1, 1: 0}
        r = next(r for r in (a.step() for _ in range(20)) if not r.skipped)
        accepted += r.accepted
    assert 32 <= accepted <= 40, accepted


def test_u_weights_p_by_alpha():
    """Catches: alpha ignored. The same labels under alpha = 1 and alpha = 50 differ by 49 * P exactly."""
    lo, hi = pair_annealer({0: 2.0, 1: -1.0}, alpha=1.0), pair_annealer({0: 2.0, 1: -1.0}, alpha=50.0)
    labels = {0: 1, 1: 1}  # P = mean(2, -1) = 0.5; one violation
    e1, e50 = lo.objective.evaluate(labels), hi.objective.evaluate(labels)
    assert e1.P == e50.P == pytest.approx(0.5)
    assert (e1.U, e50.U) == (pytest.approx(0.5 - 1), pytest.approx(25 - 1))
    assert (e1.alpha, e50.alpha) == (1.0, 50.0)


def test_calibration_subtracts_the_content_free_score():
    """Catches: the calibration sign flipped. The fake's content-free query scores the context bias alone,
    so calibrated log-odds are exactly the per-example signal; uncalibrated ones carry the bias."""
    signal = {0: 1.5, 1: -0.5, 2: 0.25}
    examples = make_examples(3)
    labels = {0: 1, 1: 1, 2: 1}  # context all True: bias = +coupling for every target
    for calibrate, expected in [(True, signal), (False, {i: s + 2.0 for i, s in signal.items()})]:
        a = Annealer(examples, FakeScorer(signal, coupling=2.0), SearchConfig(calibrate=calibrate))
        assert a.objective.evaluate(labels).logodds == pytest.approx(expected)


def test_initialization_runs_consistency_fix():
    """Catches: no ConsistencyFix after initialisation. A one-of-4 group gets K = 4 balanced labels, two
    True: always a violation, which the fix must remove before the first iteration."""
    examples = make_examples(4, group_size=4, keyed=False)
    for seed in range(5):
        config = SearchConfig(k_init=4, fix_rounds=4, alpha=1.0, seed=seed)
        a = Annealer(
            examples, FakeScorer(dict.fromkeys(range(4), 0.0), coupling=0.0), config, rules=("one_of_k",)
        )
        evaluation = a.initialize()
        assert len(a.labels) == 4 and sum(a.labels.values()) == 1
        assert evaluation.I == 0 and a.current() is evaluation


def test_objective_scores_each_example_leave_one_out():
    """Catches: the target's own label put into its context. Checked at the Objective level: every query
    of an evaluation holds exactly the other labeled examples, with their labels, and never the target."""
    examples = make_examples(9)
    scorer = FakeScorer(hashed_signal(9))
    a = Annealer(examples, scorer, SearchConfig(calibrate=True))
    labels = {0: 1, 2: 0, 3: 1, 5: 0, 8: 1}
    scorer.calls.clear()
    a.objective.evaluate(labels)
    assert sorted(q.target for q in scorer.calls if not q.content_free) == sorted(labels)
    assert sorted(q.target for q in scorer.calls if q.content_free) == sorted(labels)
    for q in scorer.calls:
        assert sorted(q.context) == sorted((i, y) for i, y in labels.items() if i != q.target)


def test_a_label_in_its_own_context_would_change_u():
    """The leave-one-out test above is not vacuous: a scorer that copies the target's label from the context
    would score every label set perfectly, so the leak would show in P."""

    class Copier:
        def score(self, queries):
            return [5.0 * (2 * dict(q.context).get(q.target, 0.5) - 1) for q in queries]

    a = Annealer(make_examples(4), Copier(), SearchConfig())
    assert a.objective.evaluate({0: 1, 1: 0, 2: 1}).P == 0.0  # the target is never in its own context


def test_search_raises_u_to_the_known_optimum():
    """The search raises U on a task with a known optimum: four asymmetric pairs whose signal says which
    claim is True. Brute force over all 2^8 labelings gives the optimum; the search must reach it."""
    signal = {0: 2.0, 1: -1.5, 2: -1.0, 3: 1.8, 4: 1.2, 5: -2.0, 6: -0.8, 7: 1.6}
    examples = make_examples(8, group_size=2, keyed=False)
    config = SearchConfig(iterations=150, k_init=2, seed=3)
    a = Annealer(examples, FakeScorer(signal, coupling=0.3), config, rules=("asymmetric",))
    first = a.step()
    while not a.done:
        a.step()
    best = max(
        (dict(enumerate(bits)) for bits in itertools.product((0, 1), repeat=8)),
        key=lambda labels: a.objective.evaluate(labels).U,
    )
    assert best == {i: int(s > 0) for i, s in signal.items()}
    assert a.labels == best
    assert a.current().U == pytest.approx(a.objective.evaluate(best).U)
    assert a.current().U > first.evaluation.U


# -- one home for the initialisation decision -------------------------------------------------------
def test_step_initializes_when_only_pins_exist():
    """Catches: a core caller with one pin skipping the K random labels (runner and annealer disagreed)."""
    a = annealer(n=20, iterations=1, k_init=8, fix_rounds=0)
    a.pin(5, 1)
    assert a.needs_initialization
    a.step()
    assert len(a.labels) >= 9 and not a.needs_initialization
    assert sum(y for i, y in a.labels.items() if i != 5) in range(3, 6)  # K balanced labels (+ the step)


def test_no_initialization_once_the_search_has_labels_or_iterations():
    a = annealer(n=10, iterations=3, k_init=4)
    assert a.needs_initialization
    a.initialize()
    assert not a.needs_initialization
    resumed = annealer(n=10, iterations=3, k_init=4)
    resumed.state.iteration = 2  # a resumed run past its start never re-draws K labels
    assert not resumed.needs_initialization


# -- ties are broken by the run's seeded RNG, drawn only when a tie occurs ---------------------------
def test_flat_scorer_asymmetric_pairs_resolve_both_ways():
    """Catches: ties broken by position (equal log-odds to label 1, equal-U options to the first listed).
    Under a flat scorer every pair is a tie; by position all pairs would end (first False, second True)."""
    examples = make_examples(16, group_size=2, keyed=False)
    outcomes = set()
    for seed in range(4):
        config = SearchConfig(iterations=60, k_init=4, seed=seed, alpha=1.0)
        a = Annealer(
            examples, FakeScorer(dict.fromkeys(range(16), 0.0), coupling=0.0), config, rules=("asymmetric",)
        )
        while not a.done:
            a.step()
        outcomes |= {
            (a.labels[i], a.labels[i + 1]) for i in range(0, 16, 2) if i in a.labels and i + 1 in a.labels
        }
    assert outcomes == {(0, 1), (1, 0)}


def test_a_tied_proposal_draws_from_the_rng_and_an_untied_one_does_not():
    a = annealer(n=4, k_init=4)
    state = a.rng.getstate()
    assert a._argmax_label(0.3) == 1 and a._argmax_label(-1e-6) == 0
    assert a.rng.getstate() == state, "no draw without a tie: runs without ties reproduce as before"
    draws = {a._argmax_label(0.0) for _ in range(40)}
    assert draws == {0, 1} and a.rng.getstate() != state


def test_equal_u_options_are_drawn_by_the_rng_not_taken_by_position():
    a = annealer(n=4, k_init=4)
    first, second = ({0: 1}, a.objective.evaluate({0: 1})), ({0: 0}, a.objective.evaluate({0: 1}))
    picks = {a._best([first, second], -1e9)[0][0] for _ in range(40)}
    assert picks == {0, 1}
    state = a.rng.getstate()
    other = ({0: 0}, a.objective.evaluate({0: 0}))  # a different U: no tie, no draw
    assert first[1].U != other[1].U
    higher = first if first[1].U > other[1].U else other
    assert a._best([first, other], -1e9) is higher and a._best([other, first], -1e9) is higher
    assert a.rng.getstate() == state
    assert a._best([first, second], 1e9) is None  # nothing beats the current U


def test_rng_state_round_trips_through_the_checkpoint_with_ties():
    """Tie draws come from the run's RNG, so a resumed flat-scorer run follows the same trajectory."""
    examples = make_examples(10, group_size=2, keyed=False)

    def fresh(state=None):
        config = SearchConfig(iterations=30, k_init=4, seed=7, alpha=1.0)
        flat = FakeScorer(dict.fromkeys(range(10), 0.0), coupling=0.0)
        return Annealer(examples, flat, config, rules=("asymmetric",), state=state)

    straight = fresh()
    path = [straight.step() for _ in range(30)]
    first = fresh()
    for _ in range(11):
        first.step()
    second = fresh(SearchState.from_dict(json.loads(json.dumps(first.snapshot().to_dict()))))
    rest = [second.step() for _ in range(19)]
    key = lambda r: (r.proposed, r.new_label, r.accepted, dict(r.changed))  # noqa: E731
    assert [key(r) for r in path[11:]] == [key(r) for r in rest]
    assert second.labels == straight.labels


# -- schedules and the acceptance rule, exactly -------------------------------------------------------
def test_schedules_floor_at_t_min_and_refuse_iteration_zero():
    assert log_schedule(10**9, t0=10, t_min=1.0, beta=0.99) == 1.0
    assert log_schedule(3, t0=10, t_min=0.01, beta=2.0) == pytest.approx(10 / (1 + 2 * math.log(3)))
    assert exp_schedule(1, t0=10, t_min=0.01, beta=0.5) == pytest.approx(5.0)
    assert exp_schedule(3, t0=10, t_min=0.01, beta=0.5) == pytest.approx(1.25)
    assert exp_schedule(20, t0=10, t_min=0.01, beta=0.5) == pytest.approx(0.01)
    for schedule in (log_schedule, exp_schedule):
        with pytest.raises(ValueError, match=r"^iteration n=0 must be >= 1$"):
            schedule(0, t0=10, t_min=0.01, beta=0.5)
        assert schedule(1, t0=10, t_min=0.01, beta=0.5) > 0
    for beta in (0.0, 1.0):
        with pytest.raises(ValueError, match=rf"^the exp schedule needs 0 < beta < 1; got beta={beta}$"):
            exp_schedule(5, t0=10, t_min=0.01, beta=beta)


def test_temperature_picks_the_schedule_by_name_and_lists_the_valid_ones():
    from icm_app.core.schedules import temperature

    assert temperature("exp", 2, t0=10, t_min=0.01, beta=0.5) == pytest.approx(2.5)
    assert temperature("log", 2, t0=10, t_min=0.01, beta=0.5) == pytest.approx(10 / (1 + 0.5 * math.log(2)))
    with pytest.raises(ValueError, match=r"^unknown schedule 'cosine'; valid: log, exp$"):
        temperature("cosine", 2, t0=10, t_min=0.01, beta=0.5)


def test_acceptance_probability_is_min_1_exp_delta_over_t():
    assert acceptance_probability(0.5, 2.0) == 1.0
    assert acceptance_probability(0.0, 2.0) == 1.0
    assert acceptance_probability(-1.0, 2.0) == pytest.approx(math.exp(-0.5))
    assert acceptance_probability(-3.0, 0.5) == pytest.approx(math.exp(-6.0))


def test_a_run_without_ties_reproduces_the_trajectory_from_before_the_tie_rule():
    """Recorded with the core of commit 33acc4e (ties by position): with no tie the RNG is never drawn for
    one, so the same seed gives the same proposals, acceptances and final labels."""
    examples = [Example(i, {"text": str(i)}, str(i // 3), "abc"[i % 3]) for i in range(15)]
    config = SearchConfig(iterations=40, seed=11, k_init=4, calibrate=True)
    a = Annealer(examples, FakeScorer(hashed_signal(15, 4)), config, rules=("exclusive", "equivalent"))
    a.initialize()
    steps = [(r.proposed, int(r.accepted)) for r in (a.step() for _ in range(40))]
    assert steps == [
        (6, 1), (12, 1), (5, 1), (3, 1), (4, 1), (13, 1), (8, 0), (2, 1), (5, 0), (0, 0), (0, 1), (11, 1), (1, 1),
        (10, 1), (6, 0), (9, 1), (14, 0), (13, 0), (3, 0), (7, 0), (3, 0), (7, 0), (14, 0), (10, 0), (4, 0), (4, 0),
        (13, 0), (8, 0), (10, 0), (6, 0), (10, 0), (11, 0), (5, 0), (14, 0), (13, 0), (9, 0), (4, 0), (13, 0),
        (2, 0), (6, 0),
    ]  # fmt: skip
    assert sorted(i for i, y in a.labels.items() if y == 1) == [4, 6, 11] and len(a.labels) == 15
    assert a.current().U == pytest.approx(52.154275897)
