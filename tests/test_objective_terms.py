"""U = alpha * P - rule_violations - proportion_weight * proportion_excess, read the same way in the code
(Evaluation's named terms), the stored events, the exports and docs/algorithm.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FakeScorer, hashed_signal, make_examples

from icm_app.core.annealing import Annealer
from icm_app.core.config import SearchConfig
from icm_app.io.export import OBJECTIVE_FORMULA, export_rows
from icm_app.io.loaders import build_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import TaskSpec
from icm_app.worker.runner import Runner

TERMS = ("U", "alpha", "P", "rule_violations", "proportion_weight", "proportion_excess")


def test_evaluation_names_each_term_of_u():
    """Catches: U computed with I unweighted (the label-proportion excess counted like one violation).

    Two exclusive groups of three, 6 labels of which 5 are 1, share bounds [0, 0.5]: 2 labels of excess
    (ceil(0.5 * 6) = 3 allowed), and 1 + 3 = 4 exclusive violations (True pairs with different keys)."""
    examples = make_examples(6, group_size=3)
    config = SearchConfig(alpha=2.0, max_share=0.5, proportion_weight=7.0)
    a = Annealer(examples, FakeScorer(hashed_signal(6), coupling=0.0), config, rules=("exclusive",))
    labels = {0: 1, 1: 1, 2: 0, 3: 1, 4: 1, 5: 1}
    e = a.objective.evaluate(labels)
    signed = [hashed_signal(6)[i] * (1 if y else -1) for i, y in labels.items()]
    assert e.P == pytest.approx(sum(signed) / 6)
    assert (e.rule_violations, e.proportion_excess) == (4, 2)
    assert (e.alpha, e.proportion_weight) == (2.0, 7.0)
    assert e.U == pytest.approx(2.0 * e.P - 4 - 7.0 * 2)
    assert e.I == 6  # the unweighted count of broken constraints, shown beside U
    assert e.terms() == {
        "U": e.U, "alpha": 2.0, "P": e.P, "rule_violations": 4, "proportion_weight": 7.0, "proportion_excess": 2,
    }  # fmt: skip
    assert list(e.terms()) == list(TERMS)


def test_without_share_bounds_u_is_the_papers_alpha_p_minus_i():
    a = Annealer(
        make_examples(4, group_size=2), FakeScorer(hashed_signal(4)), SearchConfig(), rules=("exclusive",)
    )
    e = a.objective.evaluate({0: 1, 1: 1, 2: 1, 3: 0})
    assert e.proportion_excess == 0 and e.I == e.rule_violations == 1
    assert e.U == pytest.approx(50.0 * e.P - e.I)


def stored_run(store: Store, iterations: int = 6) -> str:
    task = TaskSpec(name="t", template="Text: {text}\nLabel:", gold_field="label")
    rows = [{"text": f"item {i}", "label": i % 2} for i in range(12)]
    config = SearchConfig(
        iterations=iterations, min_share=0.4, max_share=0.6, proportion_weight=3.0, alpha=5.0
    )
    return store.create_run(build_dataset(rows, task), task, config, ScorerConfig(), data_source="mem")


def test_events_and_exports_carry_the_named_terms():
    store = Store()
    run_id = stored_run(store)
    Runner(store, run_id, FakeScorer(hashed_signal(12))).run()
    events = store.events(run_id)
    assert [e["iteration"] for e in events] == list(range(len(events))) and len(events) >= 7  # + completion
    for e in events:
        assert (e["alpha"], e["proportion_weight"]) == (5.0, 3.0)
        assert e["U"] == pytest.approx(
            e["alpha"] * e["P"] - e["rule_violations"] - e["proportion_weight"] * e["proportion_excess"]
        )
        assert e["I"] == e["rule_violations"] + e["proportion_excess"]
    rows = export_rows(store, run_id)
    objective = json.loads(rows[0]["objective"])
    assert objective == {
        "formula": OBJECTIVE_FORMULA, "iteration": events[-1]["iteration"], **{t: events[-1][t] for t in TERMS}
    }  # fmt: skip
    assert all(r["objective"] == rows[0]["objective"] for r in rows)


def test_the_algorithm_doc_states_the_same_objective():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "algorithm.md").read_text()
    assert "U(D) = α·P(D) − rule_violations(D) − proportion_weight · proportion_excess(D)" in doc
    assert OBJECTIVE_FORMULA == "U = alpha * P - rule_violations - proportion_weight * proportion_excess"
