"""Baselines against cases computed by hand on fake scorers, Algorithm 4's group rule, and the ceiling
against an independent leave-one-out count."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from conftest import FakeScorer, hashed_signal, make_examples

from icm_app.core.config import SearchConfig
from icm_app.core.consistency import decide_by_confidence, group_members
from icm_app.core.objective import Objective
from icm_app.core.types import Example, Query
from icm_app.evaluation import baselines as b


class BiasedScorer(FakeScorer):
    """FakeScorer plus a constant bias toward label 1 that the content-free query sees too."""

    def __init__(self, signal: dict[int, float], coupling: float = 0.3, bias: float = 0.0) -> None:
        super().__init__(signal, coupling)
        self.bias = bias

    def score(self, queries: Sequence[Query]) -> list[float]:
        return [s + self.bias for s in super().score(queries)]


def objective(n: int, scorer, *, calibrate: bool = False, rules: tuple[str, ...] = (), group_size: int = 0):
    examples = make_examples(n, group_size=group_size)
    config = SearchConfig(calibrate=calibrate)
    return Objective(scorer, config, order=list(range(n)), groups=group_members(examples), rules=rules)


def test_zero_shot_raw_follows_the_bias_and_calibration_removes_it():
    scorer = BiasedScorer({0: 0.5, 1: -0.5, 2: -2.0}, bias=1.0)
    assert b.argmax(b.zero_shot(scorer, [0, 1, 2], calibrate=False)) == {0: 1, 1: 1, 2: 0}
    calibrated = b.zero_shot(scorer, [0, 1, 2], calibrate=True)
    assert calibrated == pytest.approx({0: 0.5, 1: -0.5, 2: -2.0})
    assert sum(q.content_free for q in scorer.calls) == 1 and all(q.context == () for q in scorer.calls)


def test_few_shot_random_never_shows_an_example_to_itself_and_is_seeded():
    scorer = FakeScorer(hashed_signal(12), coupling=5.0)
    labels = b.few_shot_random(scorer, range(12), k=4, draw=0, seed=3, calibrate=True)
    asked = [q for q in scorer.calls if not q.content_free]
    assert sorted(q.target for q in asked) == list(range(12))
    demos = {d for q in asked for d, _ in q.context}
    assert len(demos) == 4
    assert all(q.target not in {d for d, _ in q.context} for q in asked)
    assert all(len(q.context) == (3 if q.target in demos else 4) for q in asked)
    # each demonstration carries one label in every context of the draw
    assert len({pair for q in asked for pair in q.context}) == 4
    # calibration: one content-free query per distinct context (the full one and the 4 without a demo)
    assert sum(q.content_free for q in scorer.calls) == 5
    again = b.few_shot_random(
        FakeScorer(hashed_signal(12), 5.0), range(12), k=4, draw=0, seed=3, calibrate=True
    )
    other = [b.few_shot_random(FakeScorer(hashed_signal(12), 5.0), range(12), k=4, draw=d, seed=3, calibrate=False)
             for d in range(1, 6)]  # fmt: skip
    assert again == labels
    assert any(o != labels for o in other), "every draw gave the same labels: the draw index is unused"


def test_few_shot_random_with_a_strong_context_copies_the_demonstrations_majority():
    # signal 0 everywhere: each label is the sign of the mean demonstration label the target sees
    scorer = FakeScorer({i: 0.0 for i in range(10)}, coupling=1.0)
    labels = b.few_shot_random(scorer, range(10), k=3, draw=0, seed=0, calibrate=False)
    for q in (q for q in scorer.calls if not q.content_free):
        mean = sum(1 if y else -1 for _, y in q.context) / len(q.context)
        assert labels[q.target] == (1 if mean >= 0 else 0)


def test_bootstrap_by_hand_the_confident_first_round_pulls_the_rest():
    # round 1 (zero-shot): 0 and 1 are the most confident, both 1; round 2 sees context mean +1 (coupling 1),
    # so 2 (-0.5 + 1) and 3 (-0.1 + 1) become 1, although zero-shot says 0 for both
    scorer = FakeScorer({0: 3.0, 1: 2.0, 2: -0.5, 3: -0.1}, coupling=1.0)
    obj = objective(4, scorer)
    assert b.argmax(b.zero_shot(scorer, range(4), calibrate=False)) == {0: 1, 1: 1, 2: 0, 3: 0}
    scorer.calls.clear()
    labels = b.bootstrap(scorer, obj.order, obj, keep_share=0.5, max_demos=32, calibrate=False)
    assert labels == {0: 1, 1: 1, 2: 1, 3: 1}
    second = [q for q in scorer.calls if q.context]
    assert sorted(q.target for q in second) == [2, 3]
    assert all(q.context == ((0, 1), (1, 1)) for q in second)


def test_bootstrap_caps_its_context_at_the_most_confident_labels():
    scorer = FakeScorer({0: 3.0, 1: -2.0, 2: 1.0, 3: -0.5, 4: 0.2}, coupling=0.1)
    obj = objective(5, scorer)
    b.bootstrap(scorer, obj.order, obj, keep_share=0.2, max_demos=2, calibrate=False)
    last = scorer.calls[-1]
    assert last.target == 4 and last.context == ((0, 1), (1, 0))


def test_bootstrap_applies_the_group_rule_most_confident_member_decides():
    # one group of two exclusive claims (keys a, b), both predicted True: the more confident keeps True
    scorer = FakeScorer({0: 0.5, 1: 2.0}, coupling=0.0)
    obj = objective(2, scorer, rules=("exclusive",), group_size=2)
    assert b.bootstrap(scorer, obj.order, obj, keep_share=1.0, max_demos=32, calibrate=False) == {0: 0, 1: 1}


@pytest.mark.parametrize(
    "rule, logodds, pinned, expected",
    [
        ("exclusive", {0: 0.5, 1: 2.0}, {}, {0: 0, 1: 1}),
        ("exclusive", {0: 1.0, 1: 1.0}, {}, {0: 1, 1: 0}),  # a tie: the lower id decides
        ("exclusive", {0: 0.5, 1: 2.0}, {0: 1}, {0: 1, 1: 0}),  # a pin outranks any confidence
        ("asymmetric", {0: 2.0, 1: 0.5}, {}, {0: 1, 1: 0}),
        ("asymmetric", {0: -2.0, 1: -0.5}, {}, {0: 0, 1: 1}),
        ("one_of_k", {0: 2.0, 1: 1.0, 2: -3.0}, {}, {0: 1, 1: 0, 2: 0}),
        ("one_of_k", {0: 2.0, 1: 1.0, 2: -3.0}, {1: 1}, {0: 0, 1: 1, 2: 0}),
        ("one_of_k", {0: -2.0, 1: -1.0, 2: -3.0}, {}, {0: 0, 1: 1, 2: 0}),  # none True: the last decided is
        ("one_of_k", {0: -2.0, 1: -1.0}, {}, {0: 0, 1: 0}),  # a partly labeled group may hold no True yet
    ],
)
def test_algorithm_4_by_hand(rule, logodds, pinned, expected):
    n = 3 if rule == "one_of_k" else 2
    keys = "aab" if rule == "equivalent" else "abc"
    examples = [Example(i, {"text": str(i)}, "g", keys[i]) for i in range(n)]
    assert decide_by_confidence(group_members(examples), logodds, [rule], pinned) == expected


def test_algorithm_4_equivalent_keys_follow_the_most_confident_and_ungrouped_keep_their_sign():
    examples = [Example(0, {}, "g", "a"), Example(1, {}, "g", "a"), Example(2, {}, None, None)]
    assert decide_by_confidence(group_members(examples), {0: -2.0, 1: 0.5, 2: 0.0}, ["equivalent"]) == {
        0: 0, 1: 0, 2: 1,
    }  # fmt: skip


def test_pseudo_labels_by_hand():
    # P >= 0.75 means |log-odds| >= ln 3 = 1.10: 0 and 1 pass and become the demonstrations
    first = {0: 3.0, 1: -2.0, 2: 0.1, 3: -0.2}
    scorer = FakeScorer(dict(first), coupling=1.0)
    labels, passed = b.pseudo_labels(
        scorer, [0, 1, 2, 3], first, threshold=0.75, max_demos=32, calibrate=False
    )
    # 0 sees [(1, 0)]: 3 - 1 = 2; 1 sees [(0, 1)]: -2 + 1; 2 and 3 see both: mean 0, their own sign
    assert (labels, passed) == ({0: 1, 1: 0, 2: 1, 3: 0}, 2)
    assert {q.target: q.context for q in scorer.calls}[0] == ((1, 0),)


def test_pseudo_labels_keep_the_two_most_confident_when_none_pass():
    first = {0: 0.3, 1: -0.5, 2: 0.1}
    scorer = FakeScorer(dict(first), coupling=0.0)
    _, passed = b.pseudo_labels(scorer, [0, 1, 2], first, threshold=0.9, max_demos=32, calibrate=False)
    assert passed == 0
    assert {q.target: q.context for q in scorer.calls}[2] == ((0, 1), (1, 0))


def _loo_accuracy(signal: dict[int, float], gold: dict[int, int], coupling: float) -> float:
    """Leave-one-out accuracy with gold as the context, counted directly from the fake model's formula."""
    right = 0
    for t in gold:
        others = [1 if y else -1 for i, y in gold.items() if i != t]
        right += (1 if signal[t] + coupling * sum(others) / len(others) >= 0 else 0) == gold[t]
    return right / len(gold)


def test_compare_rows_ceiling_and_gold_only_where_it_belongs():
    n, coupling = 16, 0.8
    signal = hashed_signal(n, seed=4)
    gold = {i: int(hashed_signal(n, seed=9)[i] > -0.5) for i in range(n)}
    icm = {i: int(signal[i] > 0) for i in range(n)}
    obj = objective(
        n, FakeScorer(signal, coupling)
    )  # uncalibrated: calibration would cancel the context term
    rows = {r.method: r for r in b.compare(obj, icm, gold, b.BaselineConfig(draws=3))}
    assert list(rows) == ["zero-shot (raw)", "zero-shot (calibrated)", "few-shot, random labels",
                          "bootstrapped few-shot", "confidence-threshold pseudo-labels", "ICM", "gold",
                          "ceiling (leave-one-out, gold context)"]  # fmt: skip
    assert rows["ceiling (leave-one-out, gold context)"].gold_agreement == pytest.approx(
        _loo_accuracy(signal, gold, coupling)
    )
    assert rows["ICM"].U == pytest.approx(obj.evaluate(icm).U) and rows["ICM"].icm_agreement is None
    assert rows["gold"].gold_agreement == 1.0 and rows["gold"].U == pytest.approx(obj.evaluate(gold).U)
    zs = b.argmax(b.zero_shot(FakeScorer(signal, coupling), range(n), calibrate=True))
    assert rows["zero-shot (calibrated)"].icm_agreement == pytest.approx(b.agreement(zs, icm))
    assert rows["zero-shot (calibrated)"].gold_agreement == pytest.approx(b.agreement(zs, gold))
    assert rows["few-shot, random labels"].draws == 3 and rows["few-shot, random labels"].U_std >= 0
    assert all(r.queries > 0 for m, r in rows.items() if m not in ("ICM", "gold"))


def test_gold_changes_only_the_gold_columns_and_without_gold_there_is_no_ceiling():
    n = 12
    signal = hashed_signal(n, seed=1)
    icm = {i: int(signal[i] > 0) for i in range(n)}
    runs = []
    for gold in (dict(icm), {i: 1 - y for i, y in icm.items()}, {}):
        obj = objective(n, FakeScorer(signal, 0.5))
        runs.append({r.method: r for r in b.compare(obj, icm, gold)})
    assert "ceiling (leave-one-out, gold context)" not in runs[2] and "gold" not in runs[2]
    for method, row in runs[2].items():
        for other in runs[:2]:
            assert (other[method].U, other[method].icm_agreement) == (row.U, row.icm_agreement), method
        assert row.gold_agreement is None
    assert (runs[0]["zero-shot (raw)"].gold_agreement, runs[1]["zero-shot (raw)"].gold_agreement) == (
        1.0,
        0.0,
    )


def test_config_refuses_nonsense():
    for bad in ({"k": 0}, {"keep_share": 0}, {"keep_share": 1.5}, {"threshold": 0.4}, {"threshold": 1.0}):
        with pytest.raises(ValueError):
            b.BaselineConfig(**bad)
    assert math.isclose(b.BaselineConfig().threshold, 0.75)


@pytest.mark.parametrize("differ", [0, 1, 2, 3, 4, 8])
def test_the_zero_shot_check_warns_when_and_only_when_more_than_the_share_disagree(differ):
    n = 16  # 2 of 16 = 12.5 % <= 15 %: no warning; 3 of 16 = 18.75 %: a warning
    signal = {i: (1.0 if i % 2 else -1.0) * (1 + i / n) for i in range(n)}
    zs = {i: int(signal[i] > 0) for i in range(n)}
    icm = {i: 1 - zs[i] if i < differ else zs[i] for i in range(n)}
    obj = objective(n, FakeScorer(signal, coupling=0.0), calibrate=True)
    check = b.zero_shot_check(obj, icm)
    assert (check["disagree"], check["n"]) == (differ, n) and check["differ_ids"] == list(range(differ))
    assert check["warn"] == (differ / n > b.WARN_SHARE) == (differ >= 3)
    assert check["U_icm"] == pytest.approx(obj.evaluate(icm).U)
    assert check["U_zero_shot"] == pytest.approx(obj.evaluate(zs).U)
    # with no context effect the zero-shot labels are the most predictable: ICM's flips only cost U
    assert check["prefers"] == ("icm" if differ == 0 else "zero-shot")
    if check["warn"]:
        assert "stopped short" in check["message"] and f"{differ} of {n}" in check["message"]


def test_the_zero_shot_check_says_the_objective_is_the_limit_when_it_prefers_icm():
    # a strong context pull: the labels that agree with each other (all 1) beat the zero-shot answers in U
    n = 10
    signal = {i: (0.2 if i < 7 else -0.2) for i in range(n)}
    obj = objective(n, FakeScorer(signal, coupling=3.0))
    check = b.zero_shot_check(obj, {i: 1 for i in range(n)})
    assert (
        check["warn"]
        and check["prefers"] == "icm"
        and "the objective, not the search, is the limit" in check["message"]
    )


def test_algorithm_4_with_pins_that_have_no_prediction_and_pins_that_clash():
    examples = [Example(0, {}, "g", "a"), Example(1, {}, "g", "a"), Example(2, {}, "g", "a")]
    groups = group_members(examples)
    # pins 0 and 1 have no log-odds (labeled in an earlier round); 2 follows them under "equivalent"
    assert decide_by_confidence(groups, {2: -0.5}, ["equivalent"], pinned={0: 1, 1: 1}) == {0: 1, 1: 1, 2: 1}
    # pins that clash: neither label of 2 is consistent, so it keeps its own prediction
    assert decide_by_confidence(groups, {2: 0.5}, ["equivalent"], pinned={0: 1, 1: 0})[2] == 1
    assert decide_by_confidence(groups, {2: -0.5}, ["equivalent"], pinned={0: 1, 1: 0})[2] == 0


def test_algorithm_4_one_of_k_in_a_partly_predicted_group_allows_one_true():
    examples = [Example(i, {}, "g", str(i)) for i in range(3)]  # 2 is not predicted (not in this round)
    assert decide_by_confidence(group_members(examples), {0: 2.0, 1: 1.0}, ["one_of_k"]) == {0: 1, 1: 0}
