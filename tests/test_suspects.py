"""The suspect-label ranking (no gold used) and precision at K against a random K.

Hand-made signals check the documented formula term by term; a fake-scorer run checks the store wiring and
the `icm eval` lines; the real bundled runs check the ranking is well formed on a real model's evidence.
"""

from __future__ import annotations

import pytest

from icm_app.evaluation.suspects import (
    CHAIN_WEIGHT,
    FLIP_WEIGHT,
    MAX_FLIPS,
    RULE_WEIGHT,
    RUNS_WEIGHT,
    precision_at_k,
    rank_suspects,
    report_lines,
    run_suspects,
    sigmoid,
)
from icm_app.store.sqlite_store import Store


def row(label=1, score=0.0, flips=0, agreement=None, pinned=False):
    return {"label": label, "score": score, "flips": flips, "agreement": agreement, "pinned": pinned}


def neutral(n=5):
    """n examples the model backs equally (log-odds 1 toward their label), nothing else against them."""
    return {i: row(label=i % 2, score=1.0 if i % 2 else -1.0) for i in range(n)}


# -- the formula, one signal at a time ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, extra, gain",
    [
        ({"score": -2.0}, {}, 3.0),  # label 1, log-odds 2 toward 0: against +2 instead of -1
        ({"flips": 3}, {}, 3 * FLIP_WEIGHT),
        ({"agreement": 0.5}, {}, 0.5 * CHAIN_WEIGHT),
        ({}, {"violated": {3: ["exclusive"]}}, RULE_WEIGHT),
        ({}, {"stability": {3: 0.25}}, 0.75 * RUNS_WEIGHT),
    ],
)
def test_each_signal_moves_an_example_to_the_top_by_its_documented_weight(change, extra, gain):
    """Catches a signal that is ignored, has the wrong sign, or the wrong weight."""
    labels = neutral()
    labels[3] = {**labels[3], **change}
    ranking = rank_suspects(labels, **extra)
    assert ranking[0].idx == 3
    assert ranking[0].suspicion == pytest.approx(-1.0 + gain)
    assert [s.suspicion for s in ranking[1:]] == [-1.0] * 4


def test_the_combination_is_the_documented_sum():
    """Catches a product, a missing cap on flips, or a term counted twice."""
    labels = {7: row(label=1, score=-1.5, flips=6, agreement=0.5)}
    (s,) = rank_suspects(labels, violated={7: ["exclusive", "exclusive"]}, stability={7: 0.25})
    assert s.against == pytest.approx(1.5) and s.violated == ("exclusive",)
    expected = 1.5 + FLIP_WEIGHT * MAX_FLIPS + RULE_WEIGHT + CHAIN_WEIGHT * 0.5 + RUNS_WEIGHT * 0.75
    assert s.suspicion == pytest.approx(expected) == pytest.approx(7.0)
    assert s.chain_disagreement == pytest.approx(0.5) and s.run_disagreement == pytest.approx(0.75)


def test_against_is_signed_by_the_label_and_the_probability_is_of_label_1():
    """Catches log-odds toward label 1 read as log-odds toward the current label."""
    r = {s.idx: s for s in rank_suspects({0: row(label=0, score=2.0), 1: row(label=1, score=2.0)})}
    assert r[0].against == 2.0 and r[1].against == -2.0
    assert r[0].p_label1 == r[1].p_label1 == pytest.approx(sigmoid(2.0)) == pytest.approx(0.8808, abs=1e-4)
    assert [s.idx for s in rank_suspects({0: row(label=0, score=2.0), 1: row(label=1, score=2.0)})] == [0, 1]


def test_ties_go_to_the_lower_idx_whatever_the_input_order():
    labels = {9: row(), 2: row(), 5: row(), 4: row(score=-0.1)}
    assert [s.idx for s in rank_suspects(labels)] == [4, 2, 5, 9]
    assert [s.idx for s in rank_suspects(dict(reversed(list(labels.items()))))] == [4, 2, 5, 9]


def test_unlabeled_examples_are_left_out_and_a_missing_score_adds_nothing():
    labels = {0: row(label=None), 1: row(score=None, flips=1), 2: row(score=None)}
    ranking = rank_suspects(labels)
    assert [s.idx for s in ranking] == [1, 2]
    assert ranking[0].suspicion == FLIP_WEIGHT and ranking[0].against is None and ranking[0].p_label1 is None
    assert ranking[1].suspicion == 0.0 and "no model score" in ranking[1].reason


def test_the_reason_names_the_other_word_with_its_probability_and_each_signal():
    labels = {0: row(label=1, score=-2.0, flips=3, agreement=0.5, pinned=True)}
    (s,) = rank_suspects(
        labels, violated={0: ["exclusive"]}, stability={0: 0.0}, words=("positive", "negative")
    )
    assert s.reason == (
        "model gives 0.88 to 'negative'; flipped 3 times; breaks exclusive; 50% of chains agree; "
        "0% of compared runs agree; pinned"
    )
    (s,) = rank_suspects({0: row(label=0, score=-1.0)}, words=("positive", "negative"))
    assert s.reason == "model agrees: 0.73 to 'negative'"


# -- precision at K ----------------------------------------------------------------------------------------
def test_precision_at_k_counts_the_wrong_among_the_top_k_with_gold_against_the_error_rate():
    """Catches examples without gold counted in the top K, and a random baseline that is not the error rate."""
    ranking = [6, 1, 2, 3, 4, 5, 0]  # 6 has no gold: skipped, so the top 2 are 1 and 2
    labels = {0: 1, 1: 1, 2: 0, 3: 1, 4: 0, 5: 1, 6: 1}
    gold = {0: 1, 1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 6: None}  # wrong: 1 and 3 of 6 graded
    p = precision_at_k(ranking, labels, gold, 2)
    assert p == {"k": 2, "n_graded": 6, "n_wrong": 2, "wrong_in_top": 1, "precision": 0.5,
                 "random": pytest.approx(1 / 3), "lift": pytest.approx(1.5)}  # fmt: skip
    assert precision_at_k(ranking, labels, gold, 3)["precision"] == pytest.approx(2 / 3)
    assert precision_at_k(ranking, labels, gold, 50)["k"] == 6  # capped: then precision = random
    assert precision_at_k(ranking, labels, gold, 50)["precision"] == pytest.approx(1 / 3)
    assert precision_at_k(ranking, labels, {}, 5) == {"k": 0, "n_graded": 0, "n_wrong": 0, "wrong_in_top": 0,
                                                      "precision": None, "random": None, "lift": None}  # fmt: skip
    assert precision_at_k(ranking, labels, labels, 3)["lift"] is None  # no errors: no lift to speak of


def test_precision_at_k_takes_suspects_as_the_ranking():
    suspects = rank_suspects({0: row(label=1, score=3.0), 1: row(label=1, score=-3.0)})
    assert precision_at_k(suspects, {0: 1, 1: 1}, {0: 1, 1: 0}, 1)["precision"] == 1.0


# -- a stored run ------------------------------------------------------------------------------------------
def test_a_stored_run_is_ranked_with_its_rules_and_report_lines_say_no_gold_without_it(icm_home):
    """Catches violations not read from the run's rules, and precision printed as 0 without gold."""
    from test_app_pages import make_run

    run_id = make_run("suspects")
    store = Store()
    stored = store.labels(run_id)
    ranking = run_suspects(store, run_id)
    assert sorted(s.idx for s in ranking) == sorted(i for i, v in stored.items() if v["label"] is not None)
    # force an exclusive violation: two examples of group 0 (different keys) both labeled 1
    store.add_override(run_id, 0, 1, who="t")
    store.add_override(run_id, 1, 1, who="t")
    broken = {s.idx: s.violated for s in run_suspects(store, run_id)}
    assert broken[0] == broken[1] == ("exclusive",)
    lines = report_lines(store, run_id, k=3)
    assert "suspect labels" in lines[0] and len([ln for ln in lines if "  label " in ln]) == 3
    assert any(ln.strip().startswith("precision at 5:") for ln in lines)
    store.db.execute("UPDATE examples SET gold = NULL WHERE run_id = ?", (run_id,))
    assert report_lines(store, run_id, k=3)[-1].strip() == "precision at K: n/a: no gold"


# -- the real bundled model ----------------------------------------------------------------------------------
@pytest.mark.model
def test_real_runs_are_ranked_and_scored_against_gold(copy_bundled_runs):
    """On the real model's evidence: every labeled example ranked once, most suspect first; the random-K
    baseline is the run's error rate against gold. Prints precision at 5 and 10 (recorded, not asserted)."""
    from icm_app.evaluation.compare import label_stability

    store = Store()
    for run_id, other in (copy_bundled_runs, copy_bundled_runs[::-1]):
        stored = store.labels(run_id)
        gold = {e["idx"]: e["gold"] for e in store.examples(run_id)}
        labels = {i: v["label"] for i, v in stored.items() if v["label"] is not None}
        for stability in (None, label_stability(store, run_id, [other])):
            ranking = run_suspects(store, run_id, stability=stability)
            assert sorted(s.idx for s in ranking) == sorted(labels)
            assert [s.suspicion for s in ranking] == sorted((s.suspicion for s in ranking), reverse=True)
            assert all(s.chain_disagreement is not None for s in ranking)  # two chains: agreement stored
            errors = sum(labels[i] != gold[i] for i in labels)
            for k in (5, 10):
                p = precision_at_k(ranking, labels, gold, k)
                assert p["k"] == k and p["n_graded"] == len(labels) and p["n_wrong"] == errors
                assert p["random"] == pytest.approx(errors / len(labels))
                assert 0 <= p["wrong_in_top"] <= min(k, errors)
                print(f"{store.run(run_id).name} {'with' if stability else 'without'} the other seed: "
                      f"precision@{k} {p['precision']:.2f} vs random {p['random']:.2f}")  # fmt: skip
        assert any("precision at 5" in ln for ln in report_lines(store, run_id))
