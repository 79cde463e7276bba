"""In the core: the completion phase, the balance-keeping swap move, per-chain random streams."""

from __future__ import annotations

import random
from collections import Counter

from conftest import FakeScorer, hashed_signal, make_examples

from icm_app.core.annealing import Annealer, SearchState, chain_rng
from icm_app.core.config import SearchConfig


def annealer(
    n=12, iterations=0, rules=(), group_size=0, signal=None, coupling=0.3, chain=0, **cfg
) -> Annealer:
    scorer = FakeScorer(signal or hashed_signal(n), coupling)
    config = SearchConfig(iterations=iterations, **cfg)
    return Annealer(make_examples(n, group_size), scorer, config, rules=rules, chain=chain)


def complete(a: Annealer) -> list:
    steps = []
    while (r := a.complete_one()) is not None:
        steps.append(r)
    return steps


# -- completion ------------------------------------------------------------------------------------------
def test_completion_labels_every_example_in_the_seeded_order():
    a = annealer(n=12, k_init=4)
    a.initialize()
    todo = [i for i in a.state.order if i not in a.labels]
    steps = complete(a)
    assert [r.proposed for r in steps] == todo  # one step per unlabeled example, in the run's order
    assert sorted(a.labels) == list(range(12)) and a.unlabeled == []
    assert [r.iteration for r in steps] == list(range(1, len(todo) + 1))
    assert all(r.move == "complete" and r.accepted and not r.skipped and r.temperature is None for r in steps)
    assert all(r.changed[r.proposed] == (None, r.new_label) for r in steps)
    assert a.complete_one() is None and a.state.iteration == len(todo)


def test_completion_takes_the_label_of_higher_u():
    a = annealer(n=10, k_init=4, fix_rounds=0, min_share=0.3, max_share=0.7)
    a.initialize()
    while a.unlabeled:
        i = a.unlabeled[0]
        u = {y: a.objective.evaluate({**a.labels, i: y}).U for y in (0, 1)}
        before = a.current().U
        r = a.complete_one()
        assert r.proposed == i and r.new_label == max(u, key=u.get) and a.labels[i] == r.new_label
        assert r.delta == u[r.new_label] - before and r.evaluation.U == u[r.new_label]


def test_completion_respects_the_rules_where_argmax_would_break_them():
    """Every signal says 1; exclusive groups of 3 (keys a/b/c) allow one 1. With a tiny alpha, U is -I."""
    signal = {i: 2.0 for i in range(12)}
    a = annealer(n=12, k_init=1, group_size=3, rules=("exclusive",), signal=signal, alpha=1e-3)
    a.initialize()
    complete(a)
    assert len(a.labels) == 12 and a.current().rule_violations == 0
    for g in range(4):
        assert sum(a.labels[i] for i in range(3 * g, 3 * g + 3)) <= 1


def test_completion_respects_the_proportion_rule_and_pins():
    signal = {i: 2.0 for i in range(20)}  # plain argmax would label all 20 positive
    a = annealer(n=20, k_init=2, signal=signal, coupling=0.0, min_share=0.3, max_share=0.7)
    a.pin(3, 0)
    a.pin(5, 1)
    a.initialize()
    steps = complete(a)
    assert len(a.labels) == 20 and a.current().proportion_excess == 0
    assert 6 <= sum(a.labels.values()) <= 14
    assert a.labels[3] == 0 and a.labels[5] == 1 and a.state.pinned == {3: 0, 5: 1}
    assert all(3 not in r.changed and 5 not in r.changed for r in steps)


def test_completion_keeps_one_of_k_groups_consistent_and_never_changes_a_pin():
    signal = {i: 2.0 for i in range(8)}
    a = annealer(n=8, k_init=1, group_size=2, rules=("one_of_k",), signal=signal, alpha=0.5)
    a.pin(0, 1)
    a.initialize()
    steps = complete(a)
    assert a.labels[0] == 1 and a.current().rule_violations == 0
    assert all(0 not in r.changed for r in steps)
    assert len(a.labels) == 8


def test_a_completion_tie_is_drawn_by_the_seeded_rng():
    zero = {i: 0.0 for i in range(6)}
    for seed in range(6):
        a = annealer(n=6, k_init=2, signal=zero, coupling=0.0, fix_rounds=0, seed=seed)
        a.initialize()
        expected = random.Random()
        expected.setstate(a.rng.getstate())
        r = a.complete_one()
        assert r.new_label == (1, 0)[expected.randint(0, 1)]


def test_completion_without_a_tie_draws_nothing_from_the_rng():
    a = annealer(n=8, k_init=2, coupling=0.0, fix_rounds=0)
    a.initialize()
    state = a.rng.getstate()
    a.complete_one()
    assert a.rng.getstate() == state


# -- the balance-keeping swap ----------------------------------------------------------------------------
def test_swap_moves_keep_the_class_counts():
    a = annealer(n=14, iterations=60, k_init=14, swap_prob=1.0)
    a.pin(2, 1)
    a.initialize()
    ones, n = sum(a.labels.values()), len(a.labels)
    results = []
    for _ in range(60):
        results.append(a.step())
        assert sum(a.labels.values()) == ones and len(a.labels) == n
    assert {r.move for r in results} == {"swap"}
    assert any(r.accepted for r in results) and any(not r.accepted for r in results)
    for r in results:
        assert r.old_label == 1 and r.new_label == 0 and r.partner is not None
        assert r.proposed != 2 and r.partner != 2  # pinned examples are never swapped
        if r.accepted:
            assert r.changed == {r.proposed: (1, 0), r.partner: (0, 1)}


def test_swap_is_one_iteration_decided_by_the_same_rule():
    a = annealer(n=10, iterations=30, k_init=10, swap_prob=1.0, t0=1e-6, t_min=1e-6)
    a.initialize()
    for k in range(1, 31):
        before = a.current().U
        r = a.step()
        assert r.iteration == k and not r.skipped
        assert r.accepted == (r.delta > 0)  # at T ~ 0 a worse swap is never accepted
        assert a.current().U == (before + r.delta if r.accepted else before)


def test_swap_pairs_are_uniform_over_unpinned_labeled_examples():
    a = annealer(n=12, k_init=12)
    a.initialize()
    a.pin(a.state.order[0], a.labels[a.state.order[0]])
    pinned = a.state.order[0]
    draws = Counter()
    for _ in range(3000):
        one, zero = a._swap_pair()
        assert a.labels[one] == 1 and a.labels[zero] == 0
        draws[one] += 1
        draws[zero] += 1
    free_ones = [i for i, y in a.labels.items() if y == 1 and i != pinned]
    free_zeros = [i for i, y in a.labels.items() if y == 0 and i != pinned]
    assert set(draws) == set(free_ones) | set(free_zeros)
    for i in free_ones:
        assert abs(draws[i] / 3000 - 1 / len(free_ones)) < 0.05
    for i in free_zeros:
        assert abs(draws[i] / 3000 - 1 / len(free_zeros)) < 0.05


def test_swap_needs_both_classes_else_the_iteration_is_a_flip():
    signal = {i: 2.0 for i in range(6)}
    a = annealer(n=6, iterations=5, k_init=1, signal=signal, swap_prob=1.0)
    a.initialize()
    a.state.labels = {i: 1 for i in range(6)}
    a._current = None
    r = a.step()
    assert r.move == "flip" and r.partner is None


def test_swap_probability_draws_only_when_swaps_are_on():
    """swap_prob = 0 takes nothing from the random stream: one-chain runs reproduce their old trajectories."""
    runs = []
    for p in (0.0, 0.5):
        a = annealer(n=12, iterations=40, k_init=6, swap_prob=p)
        runs.append([(r.move, r.proposed) for r in (a.step() for _ in range(40))])
    assert {m for m, _ in runs[0]} == {"flip"} and "swap" in {m for m, _ in runs[1]}
    assert {m for m, _ in runs[1]} == {"flip", "swap"}


# -- chains ----------------------------------------------------------------------------------------------
def test_chain_streams_derive_from_the_seed_and_share_the_context_order():
    assert chain_rng(5, 0).random() == random.Random(5).random()
    assert chain_rng(5, 1).random() == random.Random("5-chain-1").random()
    assert chain_rng(5, 1).random() != chain_rng(5, 2).random() != chain_rng(6, 1).random()
    a, b = annealer(chain=0, seed=3), annealer(chain=2, seed=3)
    assert a.state.order == b.state.order and b.state.chain == 2 and a.state.chain == 0
    assert a.rng.getstate() == chain_rng(3, 0).getstate() and b.rng.getstate() == chain_rng(3, 2).getstate()
    b.step()
    snap = b.snapshot()
    assert snap.chain == 2 and SearchState.from_dict(snap.to_dict()) == snap
    assert SearchState({}, {}, 0, [], random.Random(0).getstate()).chain == 0
    old = {k: v for k, v in snap.to_dict().items() if k != "chain"}
    assert SearchState.from_dict(old).chain == 0  # checkpoints from before restarts read as chain 0


def test_an_unset_iteration_budget_scales_with_the_examples():
    a = Annealer(make_examples(32), FakeScorer(hashed_signal(32)), SearchConfig())
    assert a.config.iterations == 130 and a.state.chain == 0  # the default chain is the run's own seed
    assert a.rng.getstate() == random.Random(0).getstate()
    a.state.iteration = 129
    assert not a.done
    a.state.iteration = 130
    assert a.done
