"""Held-out ICL evaluation and the salience check, with a fake scorer: what enters which context."""

from __future__ import annotations

from conftest import FakeScorer, hashed_signal, make_examples

from icm_app.core.config import SearchConfig
from icm_app.core.context import shuffled_order
from icm_app.core.objective import Objective
from icm_app.evaluation.icl import METHODS, combined_examples, evaluate_icl
from icm_app.evaluation.salience import salience
from icm_app.io.loaders import build_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import TaskSpec
from icm_app.worker.evaluations import run_labels


def test_gold_and_test_items_never_enter_the_icm_context():
    signal = hashed_signal(30)
    scorer = FakeScorer(signal)
    icm = {i: int(signal[i] > 0) for i in range(20)}
    gold = {i: 1 - icm[i] for i in range(20)}  # deliberately the opposite: any leak would show
    test = {i: int(signal[i] > 0) for i in range(20, 30)}
    results = evaluate_icl(scorer, icm, test, gold=gold, n_demos=8, seeds=(0, 1))
    assert [r.method for r in results] == ["zero-shot", "icm", "gold", "random"]  # no overrides given
    per_seed = len(test)
    calls = [scorer.calls[k : k + per_seed] for k in range(0, len(scorer.calls), per_seed)]
    for k, method in enumerate(["zero-shot", "icm", "gold", "random"] * 2):
        contexts = {q.context for q in calls[k]}
        assert len(contexts) == 1, "one context per (seed, method)"
        context = contexts.pop()
        assert not {i for i, _ in context} & set(test), "test items never in context"
        if method == "icm":
            assert all(y == icm[i] for i, y in context)
        if method == "gold":
            assert all(y == gold[i] for i, y in context)
        if method == "zero-shot":
            assert context == ()
    icm_ctx = {i for i, _ in calls[1][0].context}
    gold_ctx = {i for i, _ in calls[2][0].context}
    assert icm_ctx == gold_ctx and len(icm_ctx) == 8, "same demonstrations for every method"
    by = {r.method: r for r in results}
    for method, k in (("icm", 1), ("gold", 2)):  # each accuracy counted by hand from the fake model's formula
        expected = []
        for seed_calls in (calls[k], calls[k + 4]):
            ctx = [1 if y else -1 for _, y in seed_calls[0].context]
            shift = scorer.coupling * sum(ctx) / len(ctx)
            expected.append(
                sum(((signal[q.target] + shift) >= 0) == test[q.target] for q in seed_calls) / len(test)
            )
        assert by[method].accuracies == tuple(expected), method


def test_overridden_method_uses_the_researchers_labels():
    scorer = FakeScorer(hashed_signal(12))
    icm = {i: 1 for i in range(8)}
    results = evaluate_icl(scorer, icm, {10: 1, 11: 0}, overridden={0: 0}, n_demos=8, seeds=(0,))
    assert "overridden" in [r.method for r in results] and set(METHODS) >= {r.method for r in results}
    overridden_ctx = scorer.calls[-1].context
    assert dict(overridden_ctx)[0] == 0 and all(y == 1 for i, y in overridden_ctx if i != 0)


def test_combined_examples_renumber_test_items_after_training_ones():
    train, test = make_examples(5), make_examples(3)
    combined, moved = combined_examples(train, test)
    assert [e.idx for e in combined] == list(range(8)) and moved == {0: 5, 1: 6, 2: 7}


def test_run_labels_separate_the_searchs_labels_from_overrides(icm_home):
    store = Store()
    task = TaskSpec(name="t", template="{text}")
    rows = [{"text": f"t{i}"} for i in range(4)]
    run_id = store.create_run(
        build_dataset(rows, task), task, SearchConfig(), ScorerConfig(), data_source="m"
    )
    state = {"labels": {"0": 1, "1": 0}, "pinned": {}, "iteration": 1}
    store.record_step(run_id, {"iteration": 1}, state, {}, {})
    store.add_override(run_id, 1, 1)
    store.add_override(run_id, 2, 0)
    searched, overridden = run_labels(store, run_id)
    assert searched == {0: 1, 1: 0} and overridden == {0: 1, 1: 1, 2: 0}


def _objective(signal):
    return Objective(FakeScorer(signal, coupling=0.0), SearchConfig(), order=shuffled_order(range(len(signal)), 0),
                     groups={}, rules=())  # fmt: skip


def test_salience_flags_labels_no_better_than_noise_without_gold():
    signal = hashed_signal(16)
    agreeing = {i: int(s > 0) for i, s in signal.items()}
    assert salience(_objective(signal), agreeing, samples=8).salient
    flat = {i: 0.0 for i in range(16)}  # a model with no notion of the concept
    report = salience(_objective(flat), agreeing, samples=8)
    assert not report.salient and report.verdict().startswith("WARNING")


def test_a_collapsed_labeling_is_flagged_even_when_it_beats_its_shuffles():
    """TruthfulQA with the 270M model: 44/49 True beat its shuffles yet was at chance against gold."""
    signal = hashed_signal(20)
    labels = {i: 1 for i in range(20)}
    labels[min(signal, key=signal.get)] = 0  # the one False is the most False-looking: beats every shuffle
    report = salience(_objective(signal), labels, samples=8)
    assert report.beaten == 1.0 and report.collapsed and not report.salient
    assert "collapsed" in report.verdict()
