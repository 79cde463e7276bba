"""'Search or objective?': each verdict produced on a fake scorer, stored by a run, shown and printed."""

from __future__ import annotations

import pytest
from conftest import FakeScorer, make_examples

from icm_app.core.config import SearchConfig
from icm_app.core.consistency import group_members
from icm_app.core.context import shuffled_order
from icm_app.core.objective import Objective
from icm_app.evaluation.diagnosis import (
    U_TOLERANCE,
    VERDICTS,
    across_chains,
    diagnose,
    pairwise_agreement,
    with_gold,
)

N = 10
SIGNAL = {i: (1.5 if i % 2 else -1.5) for i in range(N)}  # the model's view: odd examples are 1
MODEL_VIEW = {i: i % 2 for i in range(N)}


def objective(signal=SIGNAL, **cfg) -> Objective:
    examples = make_examples(N)
    return Objective(FakeScorer(signal, coupling=0.0), SearchConfig(**cfg),
                     order=shuffled_order(range(N), 0), groups=group_members(examples), rules=())  # fmt: skip


def test_search_limited_when_gold_scores_higher_than_the_run():
    """The run stopped at a labeling the model dislikes; gold is what the model predicts: more search helps."""
    run = {i: 1 - MODEL_VIEW[i] if i < 4 else MODEL_VIEW[i] for i in range(N)}
    found = with_gold(objective(), run, MODEL_VIEW)
    assert found.verdict == "search" and found.gold_u > found.run_u + U_TOLERANCE
    assert found.message.startswith("The gold labels score")
    assert found.n_compared == N and found.gold_agreement == pytest.approx(0.6)
    assert found.title == "the search stopped short"


def test_objective_limited_when_the_run_beats_gold():
    """Gold disagrees with what the model predicts: the run's labels score higher, so search is not the limit."""
    gold = {i: 1 - MODEL_VIEW[i] if i < 4 else MODEL_VIEW[i] for i in range(N)}
    found = with_gold(objective(), MODEL_VIEW, gold)
    assert found.verdict == "objective" and found.run_u > found.gold_u
    assert found.message.startswith("It prefers these labels to gold: U = ")
    assert "A larger model or a different framing" in found.message


def test_equal_u_within_the_tolerance_is_not_blamed_on_the_search():
    flat = objective(signal={i: 0.0 for i in range(N)})
    found = with_gold(flat, {i: i % 2 for i in range(N)}, {i: 1 - i % 2 for i in range(N)})
    assert abs(found.gold_u - found.run_u) <= U_TOLERANCE and found.verdict == "objective"
    assert found.message.startswith("U = ") and "it cannot tell them apart" in found.message
    assert "within 1 (gold agreement 0%)" in found.message


def test_identical_labels_are_gold_and_only_shared_examples_are_compared():
    found = with_gold(objective(), {**MODEL_VIEW}, {i: MODEL_VIEW[i] for i in range(6)})
    assert found.verdict == "gold" and found.n_compared == 6 and found.gold_u == found.run_u
    with pytest.raises(ValueError, match="no labeled example has a gold label"):
        with_gold(objective(), {0: 1}, {5: 1})


def chain(u, labels):
    return {"U": u, "labels": {str(i): {"label": y} for i, y in labels.items()}}


def test_without_gold_the_chains_decide():
    a, b = {i: i % 2 for i in range(N)}, {i: 1 - i % 2 for i in range(N)}
    spread = across_chains([chain(10.0, a), chain(14.0, a)])
    assert spread.verdict == "search" and spread.u_spread == 4.0 and spread.run_u == 14.0
    assert spread.message.startswith("2 chains end at U from 10.0 to 14.0")
    flat = across_chains([chain(10.0, a), chain(10.2, b), chain(10.1, a)])
    assert flat.verdict == "flat" and flat.label_agreement == pytest.approx(1 / 3)
    assert flat.message.startswith("3 chains reach the same U")
    same = across_chains([chain(10.0, a), chain(10.0, a)])
    assert same.verdict == "converged" and same.label_agreement == 1.0 and same.u_spread == 0.0
    one = across_chains([chain(10.0, a)])
    assert one.verdict == "one_chain" and "3 or more restarts" in one.message and "--" not in one.message


def test_pairwise_agreement_counts_examples_labeled_in_both():
    assert pairwise_agreement([{0: 1, 1: 0}, {0: 1, 1: 1}]) == 0.5
    assert pairwise_agreement([{0: 1, 1: 0}, {0: 1}]) == 1.0
    assert pairwise_agreement([{0: 1}, {1: 1}]) == 0.0 and pairwise_agreement([{0: 1}]) == 1.0
    assert pairwise_agreement([{0: 1}, {0: 1}, {0: 0}]) == pytest.approx(1 / 3)


def test_diagnose_uses_gold_when_there_is_some_and_adds_the_chains():
    a = {i: i % 2 for i in range(N)}
    found = diagnose(objective(), a, MODEL_VIEW, [chain(3.0, a), chain(5.0, a)])
    assert found.verdict == "gold" and found.chains == 2 and found.u_spread == 2.0
    assert diagnose(objective(), a, {}, [chain(3.0, a), chain(3.0, a)]).verdict == "converged"
    assert diagnose(objective(), a, None, []).verdict == "one_chain"


def test_a_finished_run_stores_its_diagnosis_and_the_evaluate_page_shows_it():
    from test_app_pages import make_run, page

    from icm_app.store.sqlite_store import Store

    run_id = make_run("diagnosed", iterations=8)
    found = Store().latest_evaluation(run_id, "diagnosis")
    assert found["verdict"] in ("search", "objective", "gold") and found["n_compared"] == 12
    at = page("evaluate", run=run_id).run()
    shown = [e.value for e in list(at.warning) + list(at.success)]
    assert any(found["message"] in v for v in shown), shown
    assert any("U of gold" in c.value for c in at.caption)


def test_the_run_page_draws_every_chain():
    from test_app_pages import page

    from icm_app.io.loaders import build_dataset
    from icm_app.scoring.models import ScorerConfig
    from icm_app.store.sqlite_store import Store
    from icm_app.tasks.presets import TaskSpec
    from icm_app.worker.runner import Runner

    store = Store()
    task = TaskSpec(name="t", template="Text: {text}\nLabel:", gold_field="label")
    rows = [{"text": f"item {i}", "label": i % 2} for i in range(N)]
    run_id = store.create_run(build_dataset(rows, task), task, SearchConfig(iterations=5, restarts=2),
                              ScorerConfig(), data_source="mem")  # fmt: skip
    Runner(store, run_id, FakeScorer(SIGNAL)).run()
    at = page("run", run=run_id).run()
    charts = [c for c in at.get("plotly_chart")]
    assert len(charts) == 2 and "2 restarts" in charts[1].proto.spec


def test_icm_eval_prints_the_diagnosis(tmp_path, monkeypatch, capsys):
    import json

    from test_app_pages import make_run

    from icm_app import cli
    from icm_app.worker import evaluations

    run_id = make_run("evaluated", iterations=6)
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps({"text": f"held out {i}", "label": i % 2, "g": "x", "k": "a"}) + "\n"
                            for i in range(4)))  # fmt: skip
    monkeypatch.setattr(
        evaluations,
        "build_scorer",
        lambda examples, task, cfg, **_kw: FakeScorer({i: 0.5 for i in range(40)}),
    )
    monkeypatch.setattr(evaluations, "load_model", lambda cfg: None)  # the model is loaded once, then shared
    assert (
        cli.main(["eval", run_id, "--test", str(test), "--seeds", "0", "--salience-samples", "0", "--quiet"])
        == 0
    )
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("search or objective? "))
    from icm_app.store.sqlite_store import Store

    assert line == "search or objective? " + Store().latest_evaluation(run_id, "diagnosis")["message"]


def test_icm_eval_without_a_test_file_prints_the_verdict_and_the_suspects_with_no_model(capsys, monkeypatch):
    """`icm eval RUN` alone: the stored verdict, then the suspect ranking with precision at K against gold."""
    from test_app_pages import make_run

    from icm_app import cli
    from icm_app.evaluation import suspects
    from icm_app.store.sqlite_store import Store
    from icm_app.worker import evaluations

    monkeypatch.setattr(evaluations, "build_scorer", None)  # no model may be loaded without --test
    run_id = make_run("evaluated", iterations=6)
    assert cli.main(["eval", run_id, "--suspects", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "search or objective? " + Store().latest_evaluation(run_id, "diagnosis")["message"]
    assert out[1:] == suspects.report_lines(Store(), run_id, 3)
    assert any(line.startswith("  precision at 3: ") for line in out)


def test_no_verdict_repeats_its_title_or_names_a_cli_flag_and_short_runs_hear_the_budget():
    """The Evaluate page read "The search stopped short. The search stopped short of …", recommended
    `--restarts` inside the app, and did not say what the automatic iteration budget would have been."""
    from icm_app.evaluation.diagnosis import budget_note, diagnose

    run = {i: 1 - MODEL_VIEW[i] if i < 4 else MODEL_VIEW[i] for i in range(N)}
    chains = [{"U": 10.0, "labels": {0: 1, 1: 0}}, {"U": 14.0, "labels": {0: 0, 1: 0}}]
    found = [
        with_gold(objective(), run, MODEL_VIEW),
        with_gold(objective(), MODEL_VIEW, run),
        with_gold(objective(), MODEL_VIEW, MODEL_VIEW),
        across_chains(chains),
        across_chains(chains[:1]),
        across_chains([{"U": 1.0, "labels": {0: 1, 1: 0}}, {"U": 1.0, "labels": {0: 0, 1: 1}}]),
        across_chains([{"U": 1.0, "labels": {0: 1, 1: 0}}, {"U": 1.0, "labels": {0: 1, 1: 0}}]),
    ]
    assert {f.verdict for f in found} == set(VERDICTS)
    for f in found:
        assert not f.message.lower().startswith(f.title.lower()), f.message
        assert "--" not in f.message, f.message
    short = diagnose(objective(), run, MODEL_VIEW, iterations=10, n_examples=16)
    assert short.message.endswith("This run had 10 iterations; the automatic budget for 16 examples is 55 "
                                  "(N·H_N: every example proposed about once).")  # fmt: skip
    assert budget_note(60, 16) == "" and budget_note(None, 16) == ""
