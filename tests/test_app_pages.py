"""Every page rendered headlessly with Streamlit's AppTest, asserting on what a researcher sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FakeScorer, hashed_signal
from streamlit.testing.v1 import AppTest

from icm_app.core.config import SearchConfig
from icm_app.io.loaders import build_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import TaskSpec
from icm_app.worker.runner import Runner, create_run

ROOT = Path(__file__).resolve().parents[1]


def page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "app_pages" / f"{name}.py"), default_timeout=30)


@pytest.fixture
def finished_run(icm_home) -> str:
    """A 10-iteration run on 12 examples with gold, scored by the fake scorer."""
    store = Store()
    task = TaskSpec(name="t", template="Text: {text}\nLabel:", gold_field="label", group_field="g",
                    rules=("exclusive",), key_field="k")  # fmt: skip
    rows = [{"text": f"item {i}", "label": i % 2, "g": str(i // 3), "k": str(i % 3)} for i in range(12)]
    run_id = create_run(store, build_dataset(rows, task), task, SearchConfig(iterations=10), ScorerConfig(),
                        data_source="mem", name="fixture run")  # fmt: skip
    Runner(store, run_id, FakeScorer(hashed_signal(12))).run()
    return run_id


def test_data_page_previews_the_prompt_and_creates_a_run(icm_home):
    at = page("data").run()
    assert not at.exception
    assert at.title[0].value == "Data"
    preview = at.code[0].value
    assert (
        preview.startswith("Review: ")
        and "\nSentiment: positive\n\nReview: " in preview
        and preview.endswith("▌")
    )
    at.number_input(key="limit").set_value(8)
    at.button(key="create").click().run()
    assert "Created run" in at.success[0].value
    runs = Store().runs()
    assert len(runs) == 1 and len(Store().examples(runs[0].id)) == 8
    assert runs[0].search["min_share"] == 0.3  # the preset's overrides travel with the run


def test_data_page_shows_mapping_errors_next_to_the_fields(icm_home):
    at = page("data").run()
    template = next(t for t in at.text_area if t.label.startswith("Prompt template"))
    template.set_value("Review: {review}\nSentiment:").run()
    assert "'review'" in at.error[0].value and not at.button


def test_run_page_shows_progress_metrics_and_charts(finished_run):
    at = page("run").run()
    assert not at.exception
    assert "iteration 10/10" in at.get("progress")[0].proto.text
    labels = [m.label for m in at.metric]
    assert labels == ["U(D)", "I(D)", "Labeled", "Accepted", "Gold agreement"]
    assert at.get("plotly_chart"), "the live charts must render"
    assert at.button(key="start").label == "Resume"


def test_labels_page_filters_and_overrides_with_audit_trail(finished_run):
    at = page("labels").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 12 and {"label", "confidence", "flips", "violations", "gold", "pinned"} <= set(
        table.columns
    )
    at.multiselect(key="filters").set_value(["unlabeled"]).run()
    assert len(at.dataframe[0].value) == 12 - len(Store().labels(finished_run))
    at.multiselect(key="override_ids").set_value([5])
    at.radio(key="override_label").set_value(at.radio(key="override_label").options[1])
    at.text_input(key="override_note").set_value("checked by hand")
    at.button[0].click().run()
    assert "Saved 1 override" in at.success[0].value
    stored = Store().labels(finished_run)[5]
    assert stored["label"] == 0 and stored["pinned"]
    assert Store().overrides(finished_run)[-1]["note"] == "checked by hand"


def test_export_page_saves_inside_the_exports_folder_only(finished_run, icm_home):
    at = page("export").run()
    assert not at.exception and at.get("download_button")
    at.button(key="save").click().run()
    saved = icm_home / "exports" / f"icm-{finished_run}.jsonl"
    rows = [json.loads(line) for line in saved.read_text().splitlines()]
    assert rows and all(r["run_id"] == finished_run for r in rows)
    at.text_input(key="file_name").set_value("../escape.jsonl")
    at.button(key="save").click().run()
    assert "must be a plain name" in at.error[0].value and not (icm_home / "escape.jsonl").exists()


def test_runs_page_lists_runs(finished_run):
    at = page("runs").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["id"].tolist() == [finished_run] and table["status"].tolist() == ["finished"]


def test_pages_without_a_run_say_where_to_start(icm_home):
    for name in ("run", "labels", "export", "runs"):
        at = page(name).run()
        assert not at.exception and "Data" in at.info[0].value


def test_evaluate_page_shows_label_quality_and_stored_results(finished_run):
    store = Store()
    store.add_evaluation(finished_run, "icl", {
        "test": "t.jsonl", "n_test": 10, "n_demos": 4, "seeds": [0, 1],
        "methods": [{"method": "zero-shot", "accuracies": [0.5, 0.6], "mean": 0.55, "std": 0.07},
                    {"method": "icm", "accuracies": [0.8, 0.9], "mean": 0.85, "std": 0.07}]})  # fmt: skip
    store.add_evaluation(finished_run, "salience", {"run_p": 1.0, "baseline_ps": [0.1, 2.0], "beaten": 0.5,
                                                    "salient": False, "verdict": "WARNING: only 50%"})  # fmt: skip
    at = page("evaluate").run()
    assert not at.exception
    assert [s.value for s in at.subheader][:2] == [
        "Label quality (gold is used here only)",
        "Held-out accuracy",
    ]
    assert len(at.get("plotly_chart")) == 3  # agreement trend, confusion matrix, accuracy bars
    assert at.warning[0].value == "WARNING: only 50%"
    assert "disagree with gold" in " ".join(c.value for c in at.caption)
