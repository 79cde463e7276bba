"""Property tests of the pure-Python core: ConsistencyFix, option enumeration, proportions, contexts.

Each property is checked on random small datasets (groups and keys drawn at random), random label
sets, random pins and random rule sets, with the deterministic FakeScorer standing in for a model.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from collections import Counter
from fractions import Fraction

from conftest import FakeScorer, hashed_signal
from hypothesis import given
from hypothesis import strategies as st

from icm_app.core.annealing import Annealer
from icm_app.core.config import SearchConfig
from icm_app.core.consistency import (
    RULES,
    consistent_options,
    find_violations,
    group_members,
    proportion_excess,
)
from icm_app.core.context import loo_context, shuffled_order
from icm_app.core.types import Example

PRESET_RULES = [("exclusive",), ("equivalent",), ("exclusive", "equivalent"), ("asymmetric",), ("one_of_k",)]


@st.composite
def scenarios(draw, *, max_n: int = 9, shares: bool = False):
    """Examples with random groups/keys, a label set, pins (a subset, whose labels win) and rules.

    The structure comes from a drawn seed (uniform draws hit violations far more often than
    hypothesis's small-first draws); hypothesis still varies the size, rules and settings.
    """
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(3, max_n))
    groups: list[str | None] = []
    while len(groups) < n:  # runs of 1-4 members (pairs as in Alpaca, fours as in GSM8K), some ungrouped
        size = rnd.choice([1, 2, 2, 3, 4])
        groups += [None if size == 1 else f"g{len(groups)}"] * size
    examples = [
        Example(i, {"text": f"example {i}"}, groups[i], rnd.choice([None, "a", "b", "b", "c"]))
        for i in range(n)
    ]
    labels = {i: rnd.randint(0, 1) for i in range(n) if rnd.random() < 0.75} or {0: 1}
    pinned = {i: rnd.randint(0, 1) for i in rnd.sample(range(n), draw(st.integers(0, 3)))}
    if rnd.random() < 0.8:  # rule sets a task would use (their violations mostly have options) ...
        rules = rnd.choice(PRESET_RULES)
    else:  # ... or any combination, contradictory ones included
        rules = tuple(rnd.sample(sorted(RULES), rnd.randint(1, len(RULES))))
    cfg = {
        "fix_rounds": draw(st.integers(1, 6)),
        "seed": rnd.randrange(2**16),
        "calibrate": draw(st.booleans()),
        "p_mode": draw(st.sampled_from(["mean_logodds", "sum_logprob"])),
        "alpha": draw(st.sampled_from([1.0, 50.0])),
    }
    if shares:
        lo = rnd.randint(0, 100)
        hi = rnd.randint(lo, 100)
        cfg.update(
            min_share=lo / 100, max_share=hi / 100, proportion_weight=draw(st.sampled_from([0.5, 50.0]))
        )
    signal_seed = rnd.randrange(1000)
    coupling = draw(st.sampled_from([0.0, 0.3, 2.0]))
    return examples, labels, pinned, rules, cfg, signal_seed, coupling


def build(scenario) -> tuple[Annealer, dict[int, int]]:
    """An Annealer with the scenario's pins applied; returns it and the label set (pins included)."""
    examples, labels, pinned, rules, cfg, signal_seed, coupling = scenario
    scorer = FakeScorer(hashed_signal(len(examples), signal_seed), coupling=coupling)
    a = Annealer(examples, scorer, SearchConfig(iterations=20, **cfg), rules=rules)
    for i, y in pinned.items():
        a.pin(i, y)
    labels = {**labels, **pinned}
    a.state.labels = dict(labels)
    a._current = None
    return a, labels


def members_clean(group: list[Example], labels: dict[int, int], rules, ids) -> bool:
    """No violation lies entirely within `ids` (the violation being fixed)."""
    return not any(set(v.ids) <= set(ids) for v in find_violations({"g": group}, labels, rules))


# -- (a) ConsistencyFix never lowers U and never touches a pin -------------------------------------
# It does NOT guarantee that I(D) never rises: an option clears the violation it was picked for and may
# break rules with the rest of the group (test_consistency_fix_can_raise_i below). What it guarantees is
# Algorithm 2's rule: apply an option only if it beats the current U.
@given(scenarios())
def test_consistency_fix_never_lowers_u_nor_changes_pins(scenario):
    a, labels = build(scenario)
    before = a.objective.evaluate(labels)
    fixed, after, rounds = a.consistency_fix(labels, before)
    assert after.U >= before.U
    assert (fixed == labels) == (after is before), "labels change only together with a strictly higher U"
    if fixed != labels:
        assert after.U > before.U
    assert 0 <= rounds <= a.config.fix_rounds
    if rounds < a.config.fix_rounds:
        assert not after.violations, "the fix stops early only when nothing is left to fix"
    assert set(fixed) == set(labels), "the fix relabels, it never adds or drops examples"
    for i, y in a.state.pinned.items():
        assert fixed[i] == y
    fresh = a.objective.evaluate(fixed)  # the returned evaluation belongs to the returned labels
    assert math.isclose(fresh.U, after.U, rel_tol=1e-9, abs_tol=1e-9)
    assert fresh.violations == after.violations


def test_consistency_fix_can_raise_i():
    """Why the property above is about U, not I. GSM8K-style group, final answers a, a, b, b, rules
    equivalent + exclusive, labels (1, 0, 1, 1): I = 3 (equivalent 0-1, exclusive 0-2, 0-3). Fixing the
    equivalent pair, the best option is (1, 1) (the scorer likes both a's): U rises, I goes 3 -> 4."""
    examples = [Example(i, {"t": str(i)}, "g", k) for i, k in enumerate("aabb")]
    scorer = FakeScorer({0: 4.0, 1: 4.0, 2: 1.0, 3: 1.0}, coupling=0.0)
    a = Annealer(examples, scorer, SearchConfig(fix_rounds=1, alpha=2.0), rules=("equivalent", "exclusive"))
    labels = {0: 1, 1: 0, 2: 1, 3: 1}
    before = a.objective.evaluate(labels)
    assert before.violations[0].rule == "equivalent" and before.I == 3
    a.rng.choice = lambda seq: seq[0]  # fix the equivalent violation
    fixed, after, _ = a.consistency_fix(labels, before)
    assert fixed == {0: 1, 1: 1, 2: 1, 3: 1}
    assert after.U > before.U and after.I == 4


@given(scenarios(shares=True))
def test_consistency_fix_with_share_bounds_never_worsens_u(scenario):
    """With the label-proportion rule on, the fix maximises U: it may trade a label outside the share bounds
    (cost proportion_weight) for rule violations (cost 1 each), so only U is monotone."""
    a, labels = build(scenario)
    before = a.objective.evaluate(labels)
    fixed, after, _ = a.consistency_fix(labels, None)
    assert after.U >= before.U
    assert all(fixed[i] == y for i, y in a.state.pinned.items())


@given(scenarios(), st.integers(1, 8))
def test_search_steps_never_change_pins(scenario, steps):
    a, _ = build(scenario)
    pins = dict(a.state.pinned)
    for _ in range(steps):
        result = a.step()
        assert result.proposed not in pins
        assert all(a.labels[i] == y for i, y in pins.items())
        assert all(i not in pins for i in result.changed)


# -- (b) trying options never mutates the caller's labels or the search state -----------------------
@given(scenarios())
def test_trying_options_never_mutates_caller_or_state(scenario):
    a, labels = build(scenario)
    caller = dict(labels)
    caller_copy = copy.deepcopy(caller)
    state_labels = copy.deepcopy(a.state.labels)
    state_pins = copy.deepcopy(a.state.pinned)
    evaluation = a.objective.evaluate(caller)
    a.consistency_fix(caller, evaluation)
    assert caller == caller_copy
    assert a.state.labels == state_labels
    assert a.state.pinned == state_pins
    # the same through a step: a rejected or skipped proposal leaves the live labels exactly as they were
    if a.needs_initialization:  # only pins: step() would first draw the K initial labels
        a.initialize()
    live = copy.deepcopy(a.state.labels)
    result = a.step()
    if not result.accepted:
        assert a.state.labels == live
    else:
        assert {i: y for i, y in a.state.labels.items() if live.get(i) != y} == {
            i: new for i, (_, new) in result.changed.items()
        }


# -- (c) consistent_options returns exactly the clean assignments of the unpinned members ----------
@given(scenarios())
def test_consistent_options_are_clean_complete_and_skip_pins(scenario):
    examples, labels, pinned, rules, *_ = scenario
    labels = {**labels, **pinned}
    groups = group_members(examples)
    by_id = {e.idx: e for e in examples}
    for violation in find_violations(groups, labels, rules):
        group = groups[by_id[violation.ids[0]].group]
        options = consistent_options(violation, groups, by_id, labels, rules, pinned)
        free = [i for i in violation.ids if i not in pinned]
        assert len({tuple(sorted(o.items())) for o in options}) == len(options), "no duplicates"
        for option in options:
            assert set(option) == set(free)
            assert not set(option) & set(pinned)
            assert set(option.values()) <= {0, 1}
            assert members_clean(group, {**labels, **option}, rules, violation.ids)
        expected = [
            dict(zip(free, values))
            for values in itertools.product((0, 1), repeat=len(free))
            if free and members_clean(group, {**labels, **dict(zip(free, values))}, rules, violation.ids)
        ]
        assert sorted(map(sorted, (o.items() for o in options))) == sorted(
            map(sorted, (o.items() for o in expected))
        ), "every consistent option is enumerated, not just two"


# -- (d) proportion_excess is zero exactly inside the outward-rounded bounds -----------------------
@given(
    st.lists(st.integers(0, 1), max_size=40),
    st.one_of(st.none(), st.integers(0, 100)),
    st.one_of(st.none(), st.integers(0, 100)),
)
def test_proportion_excess_zero_exactly_within_outward_rounded_bounds(values, lo_pct, hi_pct):
    if lo_pct is not None and hi_pct is not None and lo_pct > hi_pct:
        lo_pct, hi_pct = hi_pct, lo_pct
    labels = dict(enumerate(values))
    min_share = None if lo_pct is None else lo_pct / 100
    max_share = None if hi_pct is None else hi_pct / 100
    n, ones = len(values), sum(values)
    excess = proportion_excess(labels, min_share=min_share, max_share=max_share)
    if n == 0:
        assert excess == 0
        return
    lo = 0 if lo_pct is None else math.floor(Fraction(lo_pct, 100) * n)  # exact arithmetic
    hi = n if hi_pct is None else math.ceil(Fraction(hi_pct, 100) * n)
    assert (excess == 0) == (lo <= ones <= hi)
    assert excess == max(0, ones - hi) + max(0, lo - ones)


@given(st.integers(1, 30), st.integers(0, 100), st.integers(0, 100))
def test_proportion_bounds_let_a_labeled_set_grow_one_at_a_time(n, lo_pct, hi_pct):
    """Outward rounding: from any in-bounds set of n labels, some label keeps n+1 in bounds."""
    lo_pct, hi_pct = min(lo_pct, hi_pct), max(lo_pct, hi_pct)
    kw = {"min_share": lo_pct / 100, "max_share": hi_pct / 100}
    for ones in range(n + 1):
        labels = {i: int(i < ones) for i in range(n)}
        if proportion_excess(labels, **kw) == 0:
            assert any(proportion_excess({**labels, n: y}, **kw) == 0 for y in (0, 1))


# -- (e) leave-one-out contexts ---------------------------------------------------------------------
@given(
    st.lists(st.integers(0, 500), unique=True, min_size=1, max_size=40),
    st.integers(0, 10),
    st.data(),
)
def test_loo_context_holds_every_other_labeled_example_once(ids, seed, data):
    order = shuffled_order(ids, seed)
    assert sorted(order) == sorted(ids)
    position = {idx: p for p, idx in enumerate(order)}
    labeled = data.draw(st.lists(st.sampled_from(ids), unique=True))
    labels = {i: data.draw(st.integers(0, 1)) for i in labeled}
    for target in ids:
        context = loo_context(order, position, labels, target)
        counts = Counter(i for i, _ in context)
        assert set(counts) == set(labels) - {target}
        assert all(c == 1 for c in counts.values())
        assert all(labels[i] == y for i, y in context)
        # the context is a function of the label set alone, not of the dict's insertion order
        shuffled = list(labels.items())
        random.Random(seed).shuffle(shuffled)
        assert loo_context(order, position, dict(shuffled), target) == context


@given(st.lists(st.integers(0, 500), unique=True, min_size=2, max_size=30), st.integers(0, 10))
def test_shuffled_order_depends_only_on_the_id_set_and_seed(ids, seed):
    reordered = list(reversed(ids))
    assert shuffled_order(ids, seed) == shuffled_order(reordered, seed)


# -- ConsistencyFix repairs a whole GSM8K-style group pair by pair --------------------------------
def test_consistency_fix_repairs_a_gsm8k_group_labeled_all_true():
    examples = [Example(i, {"text": str(i)}, "530", k) for i, k in enumerate(["15", "15", "240", "240"])]
    scorer = FakeScorer({i: 0.0 for i in range(4)}, coupling=0.0)
    a = Annealer(examples, scorer, SearchConfig(fix_rounds=10), rules=("exclusive", "equivalent"))
    before = a.objective.evaluate({0: 1, 1: 1, 2: 1, 3: 1})
    _, after, _ = a.consistency_fix({0: 1, 1: 1, 2: 1, 3: 1}, before)
    assert before.I == 4
    assert after.I < before.I


def test_hypothesis_profile_is_derandomized_exactly_in_ci():
    """conftest selects the profile: `ci` (derandomized, no database) when CI=true, randomized otherwise."""
    import os

    from hypothesis import settings

    chosen = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev")
    assert settings.default.derandomize == (chosen == "ci")
    assert settings.get_profile("ci").derandomize and settings.get_profile("ci").database is None
    assert not settings.get_profile("dev").derandomize and settings.get_profile("fresh").database is None
