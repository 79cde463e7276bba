"""How ICM decides: one example's explanation checked against the core with a fake scorer, the
background job that stores it, and its launcher; then one real-model run explained end to end."""

from __future__ import annotations

import math
import time

import pytest
from conftest import FakeScorer, hashed_signal, make_examples

from icm_app.core.annealing import Annealer, SearchState, chain_rng
from icm_app.core.config import SearchConfig
from icm_app.core.context import shuffled_order
from icm_app.core.objective import Objective
from icm_app.core.predictability import log_sigmoid
from icm_app.core.types import Query
from icm_app.evaluation.explain import explain_example
from icm_app.io.loaders import build_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.scoring.prompts import PromptScorer
from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import TaskSpec
from icm_app.worker import explain as job
from icm_app.worker.process import explain_state, start_explain
from icm_app.worker.runner import Runner

WORDS = (" yes", " no")
TASK = TaskSpec(name="t", template="Text: {text}\nLabel:", label_words=WORDS)


class PromptFake(PromptScorer):
    """The real prompt renderer with the fake scorer's log-odds: real prompts, known numbers."""

    def __init__(self, examples, signal, coupling: float = 0.3, task: TaskSpec = TASK) -> None:
        super().__init__(examples, task, backend=None)
        self.fake = FakeScorer(signal, coupling)

    def score(self, queries):
        return self.fake.score(queries)


def setup(n: int = 8, group_size: int = 0, **search):
    """Examples, a prompt-rendering fake scorer, the config and a mid-search state (iteration 5)."""
    examples = make_examples(n, group_size)
    scorer = PromptFake(examples, hashed_signal(n))
    config = SearchConfig(iterations=20, **search)
    order = shuffled_order([e.idx for e in examples], config.seed)
    return examples, scorer, config, order


def state(labels, order, iteration=5, pinned=None) -> SearchState:
    return SearchState(dict(labels), dict(pinned or {}), iteration, list(order), chain_rng(0, 0).getstate())


LABELS = {0: 1, 1: 0, 2: 1, 3: 1, 4: 0, 5: 0, 6: 1}  # example 7 unlabeled


# -- the arithmetic, against the core --------------------------------------------------------------------
def test_u_and_flipped_u_are_the_core_objective_and_delta_is_their_difference():
    """Catches: U or U_flipped computed on the wrong labeling, the flip not applied, delta's sign."""
    examples, scorer, config, order = setup()
    objective = Objective(scorer, config.resolved(8), order=order, groups={}, rules=())
    for idx in (0, 1, 4):
        e = explain_example(
            examples, scorer, config, LABELS, idx, state=state(LABELS, order), label_words=WORDS
        )
        flipped = {**LABELS, idx: 1 - LABELS[idx]}
        assert e.new_label == 1 - LABELS[idx]
        assert e.U == pytest.approx(objective.evaluate(LABELS).U, abs=1e-12)
        assert e.U_proposal == pytest.approx(objective.evaluate(flipped).U, abs=1e-12)
        assert e.U_flipped == e.U_proposal and e.fix_changed == []  # no rules: the fix changes nothing
        assert e.delta == pytest.approx(e.U_flipped - e.U, abs=1e-12)
        assert e.terms["U"] == e.U and e.terms_flipped["U"] == e.U_flipped


def test_the_flip_is_consistency_fixed_as_the_annealer_does():
    """Catches: the counterfactual skipping ConsistencyFix (it would count a violation the search repairs)."""
    examples, scorer, config, order = setup(9, group_size=3, alpha=1.0)  # a violation outweighs P here
    labels = {0: 1, 1: 0, 2: 0, 3: 0, 4: 1, 5: 0}  # keys a/b/c: exclusive allows one True per group
    e = explain_example(examples, scorer, config, labels, 1, rules=("exclusive",), state=state(labels, order),
                        label_words=WORDS)  # fmt: skip
    assert e.terms["rule_violations"] == 0 and e.terms_proposal["rule_violations"] == 1
    mirror = Annealer(examples, scorer, config, rules=("exclusive",), state=state(labels, order))
    fixed, evaluation, rounds = mirror.consistency_fix({**labels, 1: 1}, None)
    assert e.fix_changed and e.U_flipped == pytest.approx(evaluation.U, abs=1e-12) and e.fix_rounds == rounds
    assert {**labels, 1: 1, **{j: y for j, _, y in e.fix_changed}} == fixed
    assert e.delta == pytest.approx(evaluation.U - e.U, abs=1e-12)


def test_acceptance_is_min_1_exp_delta_over_t_with_t_from_the_schedule():
    """Catches: T at the wrong iteration, the wrong schedule, exp(-delta/T), no cap at 1."""
    examples, scorer, config, order = setup()
    for iteration, n in ((5, 6), (0, 1), (25, 20)):  # the next iteration; once the budget is spent, the last
        for idx in range(7):
            e = explain_example(examples, scorer, config, LABELS, idx, state=state(LABELS, order, iteration),
                                label_words=WORDS)  # fmt: skip
            t = max(config.t_min, config.t0 / (1 + config.beta * math.log(n)))  # the paper's log schedule
            assert e.temperature_iteration == n and e.temperature == pytest.approx(t)
            assert e.search_over == (iteration >= 20)
            assert e.acceptance == pytest.approx(min(1.0, math.exp(e.delta / t)))
    exp_config = SearchConfig(iterations=20, schedule="exp", beta=0.9)
    e = explain_example(
        examples, scorer, exp_config, LABELS, 0, state=state(LABELS, order, 9), label_words=WORDS
    )
    assert e.temperature == pytest.approx(max(0.01, 10 * 0.9**10))


def test_probabilities_are_the_models_answer_renormalised_and_sum_to_1():
    """Catches: probabilities of the wrong word (label 1 is the first label word), not from the LOO query."""
    examples, scorer, config, order = setup()
    for idx in (0, 4, 7):
        e = explain_example(
            examples, scorer, config, LABELS, idx, state=state(LABELS, order), label_words=WORDS
        )
        context = tuple((d["idx"], d["label"]) for d in e.demonstrations)
        model = scorer.score([Query(context, idx)])[0]
        assert e.model_logodds == e.logodds == pytest.approx(model)
        assert sum(e.probabilities) == pytest.approx(1.0, abs=1e-12)
        assert e.probabilities[0] == pytest.approx(1 / (1 + math.exp(-model)))
        assert (e.probabilities[0] > 0.5) == (model > 0) and e.preferred == (1 if model > 0 else 0)


def test_calibrated_runs_show_the_models_answer_and_the_calibrated_log_odds():
    """Catches: probabilities computed from the calibrated log-odds instead of what the model answered."""
    examples, scorer, config, order = setup(calibrate=True)
    e = explain_example(examples, scorer, config, LABELS, 4, state=state(LABELS, order), label_words=WORDS)
    context = tuple((d["idx"], d["label"]) for d in e.demonstrations)
    model, free = scorer.score([Query(context, 4), Query(context, 4, content_free=True)])
    assert free != 0  # 4 of the 6 demonstrations say yes: the content-free query leans yes
    assert (
        e.calibrated and e.model_logodds == pytest.approx(model) and e.logodds == pytest.approx(model - free)
    )
    assert e.probabilities[0] == pytest.approx(1 / (1 + math.exp(-model)))


def test_the_prompt_holds_every_other_labeled_example_and_never_the_examples_own_label():
    """Catches: the example's own label leaking into its prompt, a demonstration missing, unlabeled ones in."""
    examples, scorer, config, order = setup()
    for idx in (0, 3, 7):
        e = explain_example(
            examples, scorer, config, LABELS, idx, state=state(LABELS, order), label_words=WORDS
        )
        assert {d["idx"] for d in e.demonstrations} == set(LABELS) - {idx}
        for d in e.demonstrations:
            assert d["text"] == f"Text: example {d['idx']}\nLabel:{WORDS[1 - d['label']]}\n\n"
            assert d["label"] == LABELS[d["idx"]]
        assert e.query == f"Text: example {idx}\nLabel:"
        assert all(f"example {idx}\n" not in d["text"] for d in e.demonstrations)
        expected = scorer.prompt(Query(tuple((d["idx"], d["label"]) for d in e.demonstrations), idx))
        assert (*[d["text"] for d in e.demonstrations], e.query) == expected


@pytest.mark.parametrize("p_mode", ["mean_logodds", "sum_logprob"])
def test_the_terms_of_p_sum_to_p(p_mode):
    """Catches: the wrong sign for label 0, a missing 1/n for the mean, the wrong mode's term."""
    examples, scorer, config, order = setup(p_mode=p_mode)
    explained = [explain_example(examples, scorer, config, LABELS, i, state=state(LABELS, order), label_words=WORDS)
                 for i in LABELS]  # fmt: skip
    assert sum(e.p_term for e in explained) == pytest.approx(explained[0].P, abs=1e-12)
    e = explained[1]  # labeled 0: its term is about the log-odds against word 1
    expected = -e.logodds / 7 if p_mode == "mean_logodds" else log_sigmoid(-e.logodds)
    assert e.p_term == pytest.approx(expected)


def test_rules_are_listed_for_a_grouped_example_now_and_after_the_flip():
    """Catches: partners of another group, violations not involving the example, 'after' read before the fix."""
    examples, scorer, config, order = setup(9, group_size=3, alpha=1.0)
    labels = {0: 1, 1: 1, 2: 0, 3: 0, 4: 1, 5: 0}  # group 0: 0 and 1 both True, which exclusive forbids
    e = explain_example(examples, scorer, config, labels, 0, rules=("exclusive",), state=state(labels, order),
                        label_words=WORDS)  # fmt: skip
    (rule,) = e.rules
    assert rule["rule"] == "exclusive" and rule["group"] == "0" and "cannot both be True" in rule["text"]
    assert [p["idx"] for p in rule["partners"]] == [1, 2] and [p["label"] for p in rule["partners"]] == [1, 0]
    assert rule["violated_now"] == [[1]] and rule["violated_after"] == []  # flipping 0 to 0 repairs it
    ungrouped = explain_example(*setup()[:3], LABELS, 0, state=state(LABELS, setup()[3]), label_words=WORDS)
    assert ungrouped.rules == [] and ungrouped.group is None


def test_unlabeled_and_pinned_examples():
    """Catches: an unlabeled example counted in P; the search said to propose a flip it never proposes."""
    examples, scorer, config, order = setup()
    e = explain_example(examples, scorer, config, LABELS, 7, state=state(LABELS, order), label_words=WORDS)
    assert e.label is None and e.p_term == 0.0 and e.new_label == e.preferred and e.would_propose
    e = explain_example(examples, scorer, config, LABELS, 0, state=state(LABELS, order, pinned={0: 1}),
                        label_words=WORDS)  # fmt: skip
    assert e.pinned and not e.would_propose
    e = explain_example(examples, scorer, config, LABELS, 0, state=state(LABELS, order), label_words=WORDS)
    assert e.would_propose == (e.preferred == 0)  # the search proposes the model's preferred label only


# -- the background job and its launcher --------------------------------------------------------------------
def fake_run(store: Store) -> tuple[str, FakeScorer]:
    """A finished run on 9 examples in groups of 3 (rule exclusive), searched with a fake scorer."""
    task = TaskSpec(name="t", template="Text: {text}\nLabel:", label_words=WORDS, group_field="g",
                    key_field="k", rules=("exclusive",), gold_field="label")  # fmt: skip
    rows = [{"text": f"item {i}", "label": i % 2, "g": str(i // 3), "k": str(i % 3)} for i in range(9)]
    run_id = store.create_run(build_dataset(rows, task), task, SearchConfig(iterations=12), ScorerConfig(),
                              data_source="mem", name="explain run")  # fmt: skip
    scorer = FakeScorer(hashed_signal(9))
    Runner(store, run_id, scorer).run()
    return run_id, scorer


def test_the_job_stores_the_explanation_with_its_iteration_labels_and_words(icm_home):
    """Catches: the job explaining other labels than the run's (its U then differs from the run's last U)."""
    store = Store()
    run_id, scorer = fake_run(store)
    result = job.explain_run(store, run_id, 4, scorer=scorer)
    stored = store.latest_evaluation(run_id, job.result_kind(4))
    assert stored["state"] == "finished" and stored["idx"] == 4 and stored["label_words"] == list(WORDS)
    assert stored["iteration"] == store.checkpoint(run_id)["iteration"] and stored["run_status"] == "finished"
    assert stored["labels"] == {str(i): v["label"] for i, v in store.labels(run_id).items()}
    assert result["U"] == pytest.approx(store.events(run_id)[-1]["U"], abs=1e-9) == stored["event_U"]
    assert stored["rules"][0]["rule"] == "exclusive"


def test_the_job_records_a_failure_with_its_message(icm_home):
    store = Store()
    run_id, _ = fake_run(store)
    assert job.main([run_id, "99"]) == 1
    failed = store.latest_evaluation(run_id, job.result_kind(99))
    assert failed["state"] == "failed" and "no example 99" in failed["error"]


def test_the_launcher_runs_the_job_as_its_own_process(icm_home):
    """The page's button: a separate process whose end (here a failure: no such example) the page sees."""
    store = Store()
    run_id, _ = fake_run(store)
    assert explain_state(store, run_id) is None
    start_explain(store, run_id, 99)
    deadline = time.time() + 60
    while (found := explain_state(store, run_id))["state"] == "running" and time.time() < deadline:
        time.sleep(0.2)
    assert found["idx"] == 99 and found["state"] == "failed" and "no example 99" in found["log"]
    assert store.latest_evaluation(run_id, job.result_kind(99))["state"] == "failed"


# -- the real model -----------------------------------------------------------------------------------------
@pytest.mark.model
def test_a_real_run_explained_by_the_job_agrees_with_what_the_run_stored(copy_bundled_runs, icm_home):
    """The job in-process on a finished real-model run (bundled gemma-3-270m): the model's answer equals the
    log-odds the run stored for the example, U equals the run's last event, and the flip's arithmetic holds."""
    store = Store()
    run_id = copy_bundled_runs[0]
    stored = store.labels(run_id)
    idx = min(stored, key=lambda i: abs(stored[i]["score"]))  # the most uncertain: the page's default
    r = job.explain_run(store, run_id, idx)
    n = len(store.examples(run_id))  # the fixture's size; a finished run labels every example
    assert r["label"] == stored[idx]["label"] and len(r["demonstrations"]) == n - 1 == r["n_labeled"] - 1
    assert idx not in {d["idx"] for d in r["demonstrations"]}
    text = next(e["fields"] for e in store.examples(run_id) if e["idx"] == idx)["text"]
    assert text in r["query"] and all(text not in d["text"] for d in r["demonstrations"])
    config = SearchConfig.from_dict(store.run(run_id).search)
    assert r["calibrated"] == config.calibrate  # the sentiment preset calibrates: the score is calibrated
    assert r["logodds"] == pytest.approx(stored[idx]["score"], abs=2e-3)  # what the run's worker computed
    assert sum(r["probabilities"]) == pytest.approx(1.0)
    assert r["probabilities"][0] == pytest.approx(1 / (1 + math.exp(-r["model_logodds"])))
    last = store.events(run_id)[-1]
    assert r["U"] == pytest.approx(last["U"], rel=1e-4, abs=1e-3) and r["P"] == pytest.approx(
        last["P"], abs=1e-4
    )
    assert r["delta"] == pytest.approx(r["U_flipped"] - r["U"], abs=1e-12)
    t = [e["temperature"] for e in store.events(run_id) if e["phase"] == "search"][-1]  # the worker's last T
    assert r["search_over"] and r["temperature"] == pytest.approx(t)
    assert r["acceptance"] == pytest.approx(min(1.0, math.exp(r["delta"] / t)))
    assert store.latest_evaluation(run_id, job.result_kind(idx))["U_flipped"] == r["U_flipped"]
