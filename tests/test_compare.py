"""Runs side by side: matching by text, the agreement numbers, label stability, refusals, `icm compare`
and the Compare page (fake scorers for the logic, the bundled real-model runs end to end)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from conftest import FakeScorer, hashed_signal
from test_app_pages import page

from icm_app.core.config import SearchConfig
from icm_app.evaluation.compare import (
    CompareError,
    comparable_runs,
    compare_runs,
    curves,
    label_stability,
    text_keys,
)
from icm_app.io.loaders import build_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import RunNotFoundError, Store
from icm_app.tasks.presets import TaskSpec
from icm_app.worker.runner import Runner

TASK = TaskSpec(name="t", template="Text: {text}\nLabel:", gold_field="label")
TEXTS = [f"review number {i}" for i in range(10)]


def labeled_run(store: Store, texts: list[str], labels: dict[str, int | None], *, name: str, task: TaskSpec = TASK,
                gold: dict[str, int] | None = None) -> str:  # fmt: skip
    """A finished-looking run over `texts` (in that order) whose labels are `labels` by text (None: unlabeled)."""
    rows = [{"text": t, **({"label": gold[t]} if gold else {})} for t in texts]
    run_id = store.create_run(build_dataset(rows, task), task, SearchConfig(iterations=5), ScorerConfig(),
                              data_source="mem", name=name)  # fmt: skip
    stored = {
        i: {"label": labels[t], "score": 0.0, "flips": 0, "pinned": False}
        for i, t in enumerate(texts)
        if labels.get(t) is not None
    }
    store.keep_chain(run_id, 0, stored, {"iteration": 5}, {})
    store.set_status(run_id, "finished")
    return run_id


def searched_run(store: Store, rows: list[dict], *, seed: int, name: str) -> str:
    """A real search (fake scorer) over `rows`: events, chains and labels as a run leaves them."""
    run_id = store.create_run(build_dataset(rows, TASK), TASK, SearchConfig(iterations=12, seed=seed),
                              ScorerConfig(), data_source="mem", name=name)  # fmt: skip
    Runner(store, run_id, FakeScorer(hashed_signal(len(rows), seed))).run()
    return run_id


def test_examples_match_by_text_across_order_and_limit(icm_home):
    """Catches matching by idx: run B holds the last six texts in reverse order, so every idx differs."""
    store = Store()
    a_labels = {t: i % 2 for i, t in enumerate(TEXTS)}
    b_texts = TEXTS[::-1][:6]  # texts 9..4
    b_labels = {t: a_labels[t] if t != "review number 7" else 1 - a_labels[t] for t in b_texts}
    a = labeled_run(store, TEXTS, a_labels, name="A")
    b = labeled_run(store, b_texts, b_labels, name="B")
    c = compare_runs(store, [a, b])
    assert c.n_shared == 6 and c.unmatched == {"A": 4, "B": 0}
    table = c.examples.set_index("text")
    assert sorted(table.index) == sorted(b_texts)
    for text, row in table.iterrows():
        assert TEXTS[row["idx in A"]] == text and b_texts[row["idx in B"]] == text
        assert row["A"] == ("True" if a_labels[text] else "False")
        assert row["all agree"] == (text != "review number 7")
    assert (c.n_same, c.n_labeled_in_all, c.same_share) == (5, 6, 5 / 6)
    assert c.pairwise.loc["A", "B"] == c.pairwise.loc["B", "A"] == 5 / 6


def test_share_all_agree_and_pairwise_matrix_for_three_runs(icm_home):
    """Hand-made labels: catches counting an unlabeled example as agreeing, or a pairwise share taken over
    the wrong denominator."""
    store = Store()
    t = TEXTS[:4]
    a = labeled_run(store, t, {t[0]: 1, t[1]: 1, t[2]: 0, t[3]: 0}, name="A")
    b = labeled_run(store, t, {t[0]: 1, t[1]: 0, t[2]: 0, t[3]: None}, name="B")
    c_ = labeled_run(store, t, {t[0]: 1, t[1]: 1, t[2]: 1, t[3]: 0}, name="C")
    c = compare_runs(store, [a, b, c_])
    # labeled in every run: t0 (1,1,1 same), t1 (1,0,1), t2 (0,0,1); t3 unlabeled in B
    assert (c.n_shared, c.n_labeled_in_all, c.n_same) == (4, 3, 1)
    assert c.same_share == pytest.approx(1 / 3)
    assert c.examples.set_index("text").loc[t[3], "all agree"] is None
    assert c.pairwise.loc["A", "B"] == pytest.approx(2 / 3)  # t0, t2 same; t1 differs; t3 not in B
    assert c.pairwise.loc["A", "C"] == pytest.approx(3 / 4)  # t2 differs
    assert c.pairwise.loc["B", "C"] == pytest.approx(1 / 3)  # t0 same; t1, t2 differ
    assert all(c.pairwise.loc[n, n] == 1.0 for n in c.names)
    assert list(c.summary["labeled"]) == [4, 3, 4]


def test_gold_agreement_and_gold_column_in_the_summary(icm_home):
    store = Store()
    gold = {t: 1 for t in TEXTS[:4]}
    a = labeled_run(store, TEXTS[:4], {t: 1 for t in TEXTS[:4]}, name="A", gold=gold)
    b = labeled_run(store, TEXTS[:4], {t: int(t != TEXTS[0]) for t in TEXTS[:4]}, name="B", gold=gold)
    c = compare_runs(store, [a, b])
    assert list(c.summary["gold agreement"]) == [1.0, 0.75]
    assert set(c.examples["gold"]) == {"True"}


def test_duplicate_texts_match_one_to_one_by_occurrence(icm_home):
    """A text occurring twice pairs its first with the other run's first occurrence, not both with one."""
    store = Store()
    texts = ["same", "other", "same"]
    keys = text_keys([{"idx": i, "fields": {"text": t}} for i, t in enumerate(texts)])
    assert keys[0] != keys[2] and keys[0][0] == keys[2][0]
    a = labeled_run(store, texts, {"same": 1, "other": 0}, name="A")
    b = labeled_run(store, ["other", "same", "same"], {"same": 1, "other": 0}, name="B")
    c = compare_runs(store, [a, b])
    assert c.n_shared == 3
    assert sorted(zip(c.examples["idx in A"], c.examples["idx in B"])) == [(0, 1), (1, 0), (2, 2)]


def test_label_stability_is_the_share_of_other_runs_giving_the_same_label(icm_home):
    """Catches counting runs that lack the text (or leave it unlabeled) as disagreeing, or matching by idx."""
    store = Store()
    t = TEXTS[:4]
    a = labeled_run(store, t, {t[0]: 1, t[1]: 1, t[2]: 0, t[3]: 1}, name="A")
    b = labeled_run(store, t[::-1], {t[0]: 1, t[1]: 0, t[2]: None, t[3]: 1}, name="B")
    c_ = labeled_run(store, t[:3], {t[0]: 0, t[1]: 0, t[2]: 1}, name="C")
    stability = label_stability(store, a, [b, c_])
    # idx = position in A: t0: B same, C differs; t1: both differ; t2: only C labels it, differs; t3: only B, same
    assert stability == {0: 0.5, 1: 0.0, 2: 0.0, 3: 1.0}
    assert label_stability(store, a, [a]) == {}  # itself is no other run
    lonely = labeled_run(store, ["nothing shared"] * 2, {"nothing shared": 1}, name="D")
    assert label_stability(store, a, [lonely]) == {}


def test_refusals_name_the_reason(icm_home):
    store = Store()
    a = labeled_run(store, TEXTS[:4], {t: 1 for t in TEXTS[:4]}, name="A")
    other = labeled_run(store, ["a different text", "and another"], {"and another": 1}, name="B")
    with pytest.raises(CompareError, match="share no example text"):
        compare_runs(store, [a, other])
    words = TaskSpec(name="w", template="Text: {text}\nLabel:", label_words=(" yes", " no"))
    w = labeled_run(store, TEXTS[:4], {t: 1 for t in TEXTS[:4]}, name="W", task=words)
    with pytest.raises(CompareError, match="different label words"):
        compare_runs(store, [a, w])
    with pytest.raises(CompareError, match="label words"):
        label_stability(store, a, [w])
    with pytest.raises(CompareError, match="two or more"):
        compare_runs(store, [a])
    with pytest.raises(CompareError, match="named twice"):
        compare_runs(store, [a, a, other])
    with pytest.raises(RunNotFoundError):
        compare_runs(store, [a, "no-such-run"])
    assert [(i.id, n) for i, n in comparable_runs(store, a)] == []  # B shares nothing, W has other words


def test_curves_hold_every_iteration_of_each_runs_kept_chain(icm_home):
    store = Store()
    rows = [{"text": t, "label": i % 2} for i, t in enumerate(TEXTS)]
    a, b = searched_run(store, rows, seed=0, name="A"), searched_run(store, rows[::-1], seed=1, name="B")
    df = curves(store, [a, b])
    for run_id, name in ((a, "A"), (b, "B")):
        mine = df[df["run"] == name]
        events = store.events(run_id)
        assert list(mine["iteration"]) == [e["iteration"] for e in events]
        assert list(mine["U"]) == [e["U"] for e in events] and list(mine["I"]) == [e["I"] for e in events]
        assert mine["gold_agreement"].notna().any()
    assert [i.id for i, _ in comparable_runs(store, a)] == [b]


def _icm(*args: str, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "ICM_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "icm_app.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip


def test_icm_compare_refuses_unknown_and_unshared_runs(icm_home):
    store = Store()
    a = labeled_run(store, TEXTS[:4], {t: 1 for t in TEXTS[:4]}, name="A")
    b = labeled_run(store, ["elsewhere", "entirely"], {"elsewhere": 1}, name="B")
    unknown = _icm("compare", a, "no-such-run", home=icm_home)
    assert unknown.returncode == 2 and "no run 'no-such-run'" in unknown.stderr
    unshared = _icm("compare", a, b, home=icm_home)
    assert unshared.returncode == 2 and "share no example text" in unshared.stderr
    assert unshared.stderr.strip().count("\n") == 0


def test_compare_page_overlays_curves_and_filters_disagreements(icm_home):
    store = Store()
    rows = [{"text": t, "label": i % 2} for i, t in enumerate(TEXTS)]
    a, b = searched_run(store, rows, seed=0, name="A"), searched_run(store, rows[:8][::-1], seed=1, name="B")
    labeled_run(store, ["unrelated"] * 2, {"unrelated": 1}, name="Z")  # shares nothing: not offered
    at = page("compare", run=a).run()
    assert not at.exception
    assert at.multiselect[0].value == [a, b]
    assert len(at.multiselect[0].options) == 2
    assert "1 other run(s) not offered" in " ".join(c.value for c in at.caption)
    expected = compare_runs(store, [a, b])
    share = next(m for m in at.metric if m.label == "Same label in every run")
    assert share.value == f"{expected.same_share:.0%}"
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    traces = figure["data"]
    assert len(traces) == 3 * 2  # one per run per panel (U, I, gold agreement)
    assert sorted(t["name"] for t in traces) == ["A"] * 3 + ["B"] * 3
    assert len({t["line"]["color"] for t in traces if t["name"] == "A"}) == 1
    assert {t["line"]["color"] for t in traces if t["name"] == "A"} != {
        t["line"]["color"] for t in traces if t["name"] == "B"
    }
    layout = figure["layout"]
    assert all(layout[k]["title"]["text"] for k in ("xaxis", "yaxis", "xaxis3", "yaxis3"))
    summary = at.dataframe[0].value  # the numbers first: a long model name must not push them out of view
    assert list(summary.columns[:6]) == ["run", "seed", "alpha", "U", "I", "gold agreement"]
    assert list(summary["run"]) == ["A", "B"] and list(summary["seed"]) == [0, 1]
    table = at.dataframe[-1].value
    assert len(table) == 8 and list(table.columns[:3]) == ["text", "A", "B"]
    at.checkbox(key="only_disagreements").check().run()
    differ = at.dataframe[-1].value
    assert len(differ) == expected.n_labeled_in_all - expected.n_same
    assert (differ["A"] != differ["B"]).all()


def test_compare_page_with_one_run_says_how_to_get_a_second(icm_home):
    store = Store()
    a = labeled_run(store, TEXTS[:4], {t: 1 for t in TEXTS[:4]}, name="A")
    at = page("compare", run=a).run()
    assert not at.exception and "--seed 1" in at.info[0].value


@pytest.mark.model
def test_icm_compare_and_the_page_on_the_bundled_real_runs(copy_bundled_runs, icm_home):
    """End to end on two real-model runs (seeds 0 and 1): the CLI prints the same numbers compare_runs finds,
    every disagreement line, and the page shows them."""
    seed0, seed1 = copy_bundled_runs
    expected = compare_runs(Store(), [seed0, seed1])
    n = len(Store().examples(seed0))
    assert expected.n_shared == n and expected.n_labeled_in_all == n  # same sample rows, all labeled
    done = _icm("compare", seed0, seed1, home=icm_home)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"same label in every run: {expected.same_share:.3f} ({expected.n_same} of {n}" in out
    n_differ = n - expected.n_same
    assert f"{n_differ} example(s) where the runs disagree" in out
    lines = [line for line in out.splitlines() if line.startswith("  bundled seed 0[")]
    assert len(lines) == n_differ
    pair = expected.pairwise.iloc[0, 1]
    assert f"{pair:.3f}" in out and not math.isnan(pair)
    at = page("compare", run=seed0).run()
    assert not at.exception and at.multiselect[0].value == [seed0, seed1]
    assert (
        next(m for m in at.metric if m.label == "Same label in every run").value
        == f"{expected.same_share:.0%}"
    )
    assert len(json.loads(at.get("plotly_chart")[0].proto.spec)["data"]) == 6
