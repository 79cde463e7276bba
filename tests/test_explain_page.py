"""The "How ICM decides" page headlessly: choosing an example, a stored explanation rendered step by
step with its numbers, the stale notice, and the button that launches the background job (mocked here; the
real launcher is tested in test_explain.py)."""

from __future__ import annotations

import json
import os
import time

import pytest
from conftest import hashed_signal
from test_app_pages import make_run, page
from test_explain import PromptFake

from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import TaskSpec
from icm_app.ui.tables import labels_table
from icm_app.worker import explain as job
from icm_app.worker import process

STEPS = [
    "1. What the model read",
    "2. What it answered",
    "3. What that adds to P",
    "5. The rules it takes part in",
]


def text(at) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)


@pytest.fixture
def run(icm_home) -> str:
    return make_run("explain page run")


def explain(store: Store, run_id: str, idx: int) -> dict:
    """The job in-process with the run's real prompts and the fake scorer's numbers (as make_run searched)."""
    examples, _ = store.search_examples(run_id)
    task = TaskSpec.from_dict(store.run(run_id).task)
    return job.explain_run(store, run_id, idx, scorer=PromptFake(examples, hashed_signal(12), task=task))


def most_uncertain(run_id: str) -> int:
    table = labels_table(Store(), run_id)
    return int(table.loc[table["confidence"].abs().idxmin(), "idx"])


def test_the_default_example_is_the_most_uncertain_and_nothing_is_explained_yet(run):
    at = page("how_icm_decides", run=run).run()
    assert not at.exception
    box = at.selectbox(key=f"explain_{run}")
    assert box.value == most_uncertain(run) and "most uncertain" in box.format_func(box.value)
    assert "Not explained yet" in text(at) and not at.subheader
    assert at.button(key="explain").label == "Explain with the model"


def test_a_stored_explanation_is_shown_step_by_step_with_its_numbers(run):
    store = Store()
    idx = most_uncertain(run)
    r = explain(store, run, idx)
    at = page("how_icm_decides", run=run).run()
    assert not at.exception
    titles = [s.value for s in at.subheader]
    assert [t for t in titles if not t.startswith("4.")] == STEPS and titles[3].startswith(
        f"4. If #{idx} were"
    )
    shown = text(at)
    assert f"iteration {r['iteration']}" in shown and "stale" not in shown
    assert f"{r['probabilities'][0]:.3f}" in shown and f"{r['p_term']:+.4f}" in shown
    u = f"({r['U']:.3f})" if r["U"] < 0 else f"{r['U']:.3f}"
    assert f"ΔU = {r['U_flipped']:.3f} − {u} = {r['delta']:+.3f}" in shown
    assert f"{r['acceptance']:.4g}" in at.latex[0].value and f"{r['temperature']:.4f}" in at.latex[0].value
    demos = at.code[0].value
    assert demos.count("item ") == len(r["demonstrations"]) == 11 and at.code[1].value == r["query"]
    assert f"item {idx}\n" not in demos  # the example's own label is never in its prompt
    assert "exclusive" in shown and len(at.dataframe) == 1  # make_run's groups of 3 with the exclusive rule
    assert len(at.get("plotly_chart")) == 1


def test_choosing_another_example_and_coming_back(run):
    store = Store()
    idx = most_uncertain(run)
    explain(store, run, idx)
    other = (idx + 1) % 12
    at = page("how_icm_decides", run=run).run()
    at.selectbox(key=f"explain_{run}").set_value(other).run()
    assert not at.exception and "Not explained yet" in text(at) and not at.subheader
    assert f"item {other}" in at.markdown[1].value  # the chosen example's full text
    at.selectbox(key=f"explain_{run}").set_value(idx).run()
    assert len(at.subheader) == 5


def test_changed_labels_mark_the_explanation_stale(run):
    store = Store()
    idx = most_uncertain(run)
    explain(store, run, idx)
    other = (idx + 1) % 12
    store.add_override(run, other, 1 - store.labels(run)[other]["label"])
    at = page("how_icm_decides", run=run).run()
    assert "stale" in at.warning[0].value and len(at.subheader) == 5


def test_the_button_launches_the_job_and_the_page_shows_it_running_then_failed(run, monkeypatch):
    started = []

    def fake_start(store, run_id, idx):  # records a live pid (this process) as the real launcher does
        started.append((run_id, idx))
        log = process.log_path(f"explain-{run_id}")
        log.write_text("loading the model\n")
        log.with_suffix(".json").write_text(
            json.dumps({"pid": os.getpid(), "started": time.time(), "idx": idx})
        )
        return os.getpid()

    monkeypatch.setattr(process, "start_explain", fake_start)
    at = page("how_icm_decides", run=run).run()
    box = at.selectbox(key=f"explain_{run}")
    box.set_value(3).run()
    at.button(key="explain").click().run()
    assert started == [(run, 3)] and not at.exception
    assert "reading the prompts for example #3" in at.info[0].value and at.button(key="explain").disabled
    record = process.log_path(f"explain-{run}").with_suffix(".json")  # the job dies without a result
    record.write_text(json.dumps({"pid": 0, "started": time.time(), "idx": 3}))
    Store().add_evaluation(
        run, job.result_kind(3), {"idx": 3, "state": "failed", "error": "ValueError: boom"}
    )
    at.run()
    assert "failed" in at.error[0].value and "loading the model" in at.code[0].value
    assert not at.button(key="explain").disabled


def test_the_home_pages_introduction_links_here_keeping_the_open_run(run):
    at = page("home", run=run).run()
    links = [link for link in at.main.get("page_link") if link.proto.page == "how_icm_decides"]
    assert not at.exception and len(links) == 1 and f"run={run}" in links[0].proto.query_string
    assert "How ICM decides" in links[0].proto.label


@pytest.mark.parametrize(
    "delta, acceptance, says",
    [(1.67, 1.0, "would accept** this flip to “x”: it raises U by 1.670"),
     (-2.0, 1e-9, "would keep the current label**: the flip lowers U by 2.000"),
     (-0.1, 0.25, "with probability 25.0%, though it lowers U by 0.100")],
)  # fmt: skip
def test_the_page_says_what_the_acceptance_rule_means_for_the_flip(delta, acceptance, says):
    """The page showed P(accept) = 1 in a formula and never said the search would accept the flip."""
    from icm_app.ui.explain_view import acceptance_sentence

    assert says in acceptance_sentence(delta, acceptance, "“x”")


def test_a_calibrated_run_charts_the_calibrated_answer_the_steps_use():
    """The chart showed raw probabilities (66% "positive", dark) while the text concluded, from calibrated
    log-odds of -0.060, that the model prefers "negative"."""
    import math

    from icm_app.ui.explain_view import answer_figure

    r = {"probabilities": [0.663, 0.337], "calibrated": True, "logodds": -0.060, "label": 1}
    fig = answer_figure(r, ["positive", "negative"], 3)
    raw, calibrated = fig.data
    assert list(raw.y) == [0.663, 0.337] and "calibration" in calibrated.name
    assert calibrated.y[0] == pytest.approx(1 / (1 + math.exp(0.060))) and calibrated.y[0] < 0.5
    assert len(answer_figure({**r, "calibrated": False}, ["positive", "negative"], 3).data) == 1


def test_the_cost_of_an_explanation_comes_from_the_runs_own_iterations(run):
    """It promised "seconds to a minute on a CPU" and took 347.6 s."""
    from icm_app.ui.explain_view import explain_cost

    seconds = sorted(e["seconds"] for e in Store().events(run) if e["iteration"] > 0 and not e["skipped"])
    assert "as two of this run's search iterations" in explain_cost(Store(), run)
    at = page("how_icm_decides", run=run).run()
    assert "seconds to a minute" not in text(at) and "as two of this run's search iterations" in text(at)
    assert seconds, "the fixture run has timed iterations"
