"""Sweeps on a fake scorer: the grid, runs reproducible from their seeds, resume, the per-setting summary
by hand, the CLI's refusals, and the Sweep page."""

from __future__ import annotations

import json
import statistics

import pytest
from conftest import FakeScorer, hashed_signal
from streamlit.testing.v1 import AppTest
from test_app_pages import ROOT, make_run

from icm_app.cli import main
from icm_app.core.config import SearchConfig
from icm_app.io.loaders import build_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import TaskSpec
from icm_app.worker import sweep as sw

TASK = TaskSpec(name="t", template="Text: {text}\nLabel:", gold_field="label")


def dataset(n: int = 10):
    return build_dataset([{"text": f"item {i}", "label": i % 2} for i in range(n)], TASK)


def new_sweep(store: Store, values, iterations: int = 6) -> str:
    return sw.create_sweep(store, dataset(), TASK, SearchConfig(iterations=iterations), ScorerConfig(), values,
                           data_source="mem", name="s")  # fmt: skip


def test_grid_is_every_combination_in_a_fixed_order():
    assert sw.grid({"seed": [0, 1], "alpha": [10.0, 50.0], "k_init": []}) == [
        {"alpha": 10.0, "seed": 0}, {"alpha": 10.0, "seed": 1}, {"alpha": 50.0, "seed": 0}, {"alpha": 50.0, "seed": 1},
    ]  # fmt: skip
    assert (
        sw.setting_name({"alpha": 25.0, "k_init": 4, "init": "zero_shot", "seed": 3})
        == "α=25 K=4 init=zero_shot"
    )
    assert sw.setting_name({"seed": 3}) == "base"


def test_a_bad_value_creates_no_run(icm_home):
    store = Store()
    with pytest.raises(ValueError, match="alpha"):
        new_sweep(store, {"alpha": [10.0, -1.0], "seed": [0]})
    assert store.runs() == [] and store.jobs() == []
    with pytest.raises(ValueError, match="at least one value"):
        new_sweep(store, {"alpha": []})


def test_sweep_runs_are_reproducible_from_their_seeds_and_resume_skips_finished(icm_home):
    store = Store()
    values = {"alpha": [10.0, 50.0], "seed": [0, 1]}
    first, second = new_sweep(store, values), new_sweep(store, values)
    signal = hashed_signal(10, seed=2)
    assert sw.run_sweep(store, first, FakeScorer(signal)) == ["finished"] * 4
    assert sw.run_sweep(store, second, FakeScorer(signal)) == ["finished"] * 4
    for a, b in zip(store.job(first)["runs"], store.job(second)["runs"]):
        assert a["values"] == b["values"]
        assert store.run(a["run_id"]).search == store.run(b["run_id"]).search
        assert store.labels(a["run_id"]) == store.labels(b["run_id"])
    seeds = [store.run(r["run_id"]).search["seed"] for r in store.job(first)["runs"]]
    assert seeds == [0, 1, 0, 1]
    runs: list[str] = []
    assert (
        sw.run_sweep(store, first, FakeScorer(signal), on_run=lambda k, n, r: runs.append(r))
        == ["finished"] * 4
    )
    assert runs == [], "a finished run was run again"


def test_summary_by_hand(icm_home):
    store = Store()
    sweep_id = new_sweep(store, {"alpha": [10.0, 50.0], "seed": [0, 1, 2]})
    sw.run_sweep(store, sweep_id, FakeScorer(hashed_signal(10, seed=3)))
    points = sw.sweep_points(store, sweep_id)
    rows = {r["setting"]: r for r in sw.summarize(points)}
    assert list(rows) == ["α=10", "α=50"]
    for setting, row in rows.items():
        mine = [p for p in points if p["setting"] == setting]
        golds = [p["gold_agreement"] for p in mine]
        assert row["runs"] == 3
        assert row["gold_mean"] == pytest.approx(statistics.fmean(golds))
        assert row["gold_std"] == pytest.approx(statistics.stdev(golds))
        assert row["U_mean"] == pytest.approx(statistics.fmean(p["U"] for p in mine))
    gold = {i: i % 2 for i in range(10)}
    p = points[0]
    labels = {i: v["label"] for i, v in store.labels(p["run_id"]).items()}
    assert p["gold_agreement"] == pytest.approx(sum(labels[i] == gold[i] for i in labels) / len(labels))


def test_unfinished_runs_are_left_out_of_the_summary(icm_home):
    store = Store()
    sweep_id = new_sweep(store, {"alpha": [10.0], "seed": [0, 1]})
    sw.run_sweep(store, sweep_id, FakeScorer(hashed_signal(10)))
    store.set_status(store.job(sweep_id)["runs"][1]["run_id"], "paused")
    (row,) = sw.summarize(sw.sweep_points(store, sweep_id))
    assert row["runs"] == 1 and row["gold_std"] == 0.0


def test_cli_show_prints_the_summary_and_refuses_bad_values(icm_home, capsys):
    store = Store()
    sweep_id = new_sweep(store, {"alpha": [10.0, 50.0], "seed": [0]})
    sw.run_sweep(store, sweep_id, FakeScorer(hashed_signal(10)))
    assert main(["sweep", "--show", sweep_id]) == 0
    out = capsys.readouterr().out
    assert "α=10" in out and "α=50" in out and "gold agreement" in out
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--sample", "sentiment", "--alpha", "ten"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--sample", "sentiment", "--alpha", "0"])  # below the minimum: refused by argparse
    assert exit_.value.code == 2 and Store().runs() == store.runs()


def test_the_sweep_page_charts_a_stored_sweep_and_links_its_runs_to_compare(icm_home):
    run_id = make_run("base")
    store = Store()
    sweep_id = new_sweep(store, {"alpha": [10.0, 50.0], "seed": [0, 1]})
    sw.run_sweep(store, sweep_id, FakeScorer(hashed_signal(10)))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.query_params["run"] = run_id
    at.switch_page("pages/11_sweep.py").run()
    assert not at.exception
    (chart,) = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert [t["x"] for t in chart["data"]] == [["α=10", "α=50"]] * 2  # gold agreement and U
    link = next(p for p in at.get("page_link") if p.proto.label == "Compare these runs")
    ids = [r["run_id"] for r in store.job(sweep_id)["runs"]]
    assert f"compare={'%2C'.join(ids)}" in link.proto.query_string or ",".join(ids) in link.proto.query_string


def test_the_sweep_form_refuses_bad_values_and_launches_the_command(icm_home, monkeypatch):
    run_id = make_run("base")
    launched = []
    monkeypatch.setattr("icm_app.ui.sweep_view.launch", lambda args, log, **kw: launched.append(args) or 1)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.query_params["run"] = run_id
    at.switch_page("pages/11_sweep.py").run()
    at.text_input(key=f"sweep_alpha_{run_id}").set_value("10 abc").run()
    assert at.button(key="start_sweep").disabled and "not a number" in at.error[0].value
    at.text_input(key=f"sweep_alpha_{run_id}").set_value("10 25").run()
    at.text_input(key=f"sweep_seeds_{run_id}").set_value("0, 1").run()
    assert "4 runs" in " ".join(c.value for c in at.caption)
    at.button(key="start_sweep").click().run()
    assert launched == [["sweep", "--from", run_id, "--alpha", "10.0", "25.0", "--k-init", "8",
                         "--init", "random", "--seeds", "0", "1"]]  # fmt: skip


def test_cli_creates_a_sweep_from_a_data_file_with_the_swept_values(icm_home, monkeypatch):
    """The swept options (lists) never reach the base SearchConfig: `icm sweep --alpha 10 50` once raised a
    TypeError comparing a list with 0."""
    import icm_app.scoring as scoring

    def stop(*_a, **_k):
        raise KeyboardInterrupt  # the runs exist once the model would load: stop there

    monkeypatch.setattr(scoring, "build_scorer", stop)
    assert main(["sweep", "--sample", "sentiment", "--limit", "6", "--alpha", "10", "50", "--k-init", "2",
                 "--iterations", "3", "--seeds", "0", "1"]) == 130  # fmt: skip
    (spec,) = [s for _, s in Store().jobs() if s.get("kind") == "sweep"]
    searches = [Store().run(r["run_id"]).search for r in spec["runs"]]
    assert [(s["alpha"], s["k_init"], s["seed"], s["iterations"]) for s in searches] == [
        (10.0, 2, 0, 3), (10.0, 2, 1, 3), (50.0, 2, 0, 3), (50.0, 2, 1, 3),
    ]  # fmt: skip
    assert all(s["calibrate"] for s in searches)  # the sentiment preset's settings are the base


def test_cli_sweep_from_a_run_takes_its_settings_and_the_flags_given(icm_home, monkeypatch):
    """`--from RUN --iterations 3` once ignored --iterations: the run's settings are the base, flags win."""
    import icm_app.scoring as scoring

    def stop(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(scoring, "build_scorer", stop)
    store = Store()
    source = store.create_run(dataset(), TASK, SearchConfig(iterations=40, restarts=2, alpha=25.0), ScorerConfig(),
                              data_source="mem")  # fmt: skip
    assert (
        main(["sweep", "--from", source, "--alpha", "10", "--iterations", "3", "--scoring", "naive"]) == 130
    )
    (spec,) = [s for _, s in Store().jobs() if s.get("kind") == "sweep"]
    (run,) = [Store().run(r["run_id"]) for r in spec["runs"]]
    assert (run.search["alpha"], run.search["iterations"], run.search["restarts"]) == (10.0, 3, 2)
    assert run.scorer["scoring"] == "naive" and len(Store().examples(run.id)) == 10


def test_each_sweep_run_reports_every_tenth_iteration(icm_home):
    store = Store()
    sweep_id = new_sweep(store, {"alpha": [10.0], "seed": [0, 1]}, iterations=12)
    said: list[str] = []
    sw.run_sweep(store, sweep_id, FakeScorer(hashed_signal(10)), progress=said.append)
    assert [m.split(",")[0] for m in said] == ["run 1/2: iteration 10", "run 2/2: iteration 10"]
