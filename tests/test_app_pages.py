"""Every page rendered headlessly with Streamlit's AppTest, asserting on what a researcher sees.

The app runs as Streamlit runs it: streamlit_app.py is the main script and each page a file of pages/.
Tests named after a defect failed before its fix.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from conftest import FakeScorer, hashed_signal
from streamlit.testing.v1 import AppTest

from icm_app.core.config import SearchConfig
from icm_app.io.loaders import build_dataset
from icm_app.paths import sample_path
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import TaskSpec
from icm_app.worker.runner import Runner

ROOT = Path(__file__).resolve().parents[1]
FILES = {p.stem.split("_", 1)[1]: p.name for p in (ROOT / "pages").glob("*.py")}


def page(name: str, **query: str) -> AppTest:
    """The app at one page (`home` = streamlit_app.py), with `query` in its URL."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=30)
    at.query_params.update(query)
    if name != "home":
        at.switch_page(f"pages/{FILES[name]}")
    return at


def go(at: AppTest, name: str) -> AppTest:
    """Follow a menu link from the current page: its query string, the same session."""
    link = next(link for link in at.sidebar.get("page_link") if link.proto.page == name)  # URL = file name
    at.query_params.clear()
    for pair in filter(None, link.proto.query_string.split("&")):
        key, value = pair.split("=", 1)
        at.query_params[key] = value
    return at.switch_page(f"pages/{FILES[name]}").run()


def make_run(name: str, iterations: int = 10, run: bool = True) -> str:
    """A run on 12 examples with gold (fake scorer), `iterations` long; finished unless run=False."""
    store = Store()
    task = TaskSpec(name="t", template="Text: {text}\nLabel:", gold_field="label", group_field="g",
                    rules=("exclusive",), key_field="k")  # fmt: skip
    rows = [{"text": f"item {i}", "label": i % 2, "g": str(i // 3), "k": str(i % 3)} for i in range(12)]
    run_id = store.create_run(build_dataset(rows, task), task, SearchConfig(iterations=iterations), ScorerConfig(),
                              data_source="mem", name=name)  # fmt: skip
    if run:
        Runner(store, run_id, FakeScorer(hashed_signal(12))).run()
    return run_id


@pytest.fixture
def finished_run(icm_home) -> str:
    return make_run("fixture run")


@pytest.fixture
def two_runs(icm_home) -> tuple[str, str]:
    older = make_run("older run")
    time.sleep(0.01)
    return older, make_run("newer run")


def uploaded(name: str, content: bytes) -> AppTest:
    """The Data page with `content` uploaded as `name`."""
    at = page("data").run()
    at.radio(key="source").set_value("Upload a file").run()
    at.file_uploader(key="upload").upload(name, content).run()
    return at


def run_selector(at: AppTest):
    """The Runs page's run selector (keyed by the list of runs, so found by its label)."""
    return next(s for s in at.selectbox if s.label == "Run to open, resume or delete")


def shown_run(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


# -- layout and the open run (defect 1) -----------------------------------------------------------------
def test_pages_are_classic_multipage_files_and_the_home_page_introduces_icm(icm_home):
    assert sorted(FILES) == [
        "compare", "data", "evaluate", "export", "how_icm_decides", "labels", "replay", "review", "run", "runs",
        "scale", "sweep",
    ]  # fmt: skip
    assert "st.navigation" not in (ROOT / "streamlit_app.py").read_text()
    for file in (ROOT / "pages").glob("*.py"):
        assert "page_frame(" in file.read_text(), f"{file.name} must draw the shared frame"
    at = page("home").run()
    assert not at.exception and at.title[0].value == "ICM Studio"
    intro = at.markdown[0].value
    assert "Internal Coherence Maximization" in intro and "U(D) = α · P(D) − I(D)" in intro
    assert "Is ICM worth it on your data?" in [h.value for h in at.subheader]  # said plainly on the home page
    assert "zero-shot" in at.markdown[1].value and "ceiling" in at.markdown[1].value
    config = (ROOT / ".streamlit" / "config.toml").read_text()
    assert 'toolbarMode = "minimal"' in config  # no Deploy button


def test_opening_an_older_run_keeps_it_on_every_page(two_runs):
    older, newer = two_runs
    at = page("runs").run()
    run_selector(at).set_value(older).run()
    at.button(key="open").click().run()
    assert at.title[0].value == "Run" and older in shown_run(at) and newer not in shown_run(at)
    assert at.query_params["run"] == [older] or at.query_params["run"] == older
    for name in ("labels", "evaluate", "export", "data", "runs", "run"):
        at = go(at, name)
        assert not at.exception, name
        links = at.sidebar.get("page_link")
        assert links and all(f"run={older}" in link.proto.query_string for link in links), name
        if name not in ("data", "runs"):
            assert older in shown_run(at), name


def test_a_direct_url_opens_its_run_and_an_unknown_one_says_so(two_runs):
    older, newer = two_runs
    at = page("labels", run=older).run()
    assert older in shown_run(at)
    at = page("export", run="no-such-run").run()
    assert "no-such-run" in at.warning[0].value and newer in shown_run(at)


def test_pages_without_a_run_say_where_to_start(icm_home):
    for name in ("run", "labels", "export", "evaluate"):
        at = page(name).run()
        assert not at.exception and "Data" in at.info[0].value, name
    at = page("runs").run()
    assert not at.exception and "Data" in at.info[0].value


# -- Data page (defects 2, 3, 4, 13, 14) ----------------------------------------------------------------
def test_data_page_previews_the_prompt_and_creates_a_run(icm_home):
    at = page("data").run()
    assert not at.exception
    assert at.title[0].value == "Data"
    preview = at.code[0].value
    assert preview.startswith("Review: ") and "\nSentiment: " in preview and preview.endswith("▌")
    next(n for n in at.number_input if n.label.startswith("Rows to use")).set_value(8)
    at.button(key="create").click().run()
    assert "Created run" in at.success[0].value
    runs = Store().runs()
    assert len(runs) == 1 and len(Store().examples(runs[0].id)) == 8
    assert runs[0].search["min_share"] == 0.3  # the preset's overrides travel with the run


def test_preview_demonstration_carries_its_own_gold_label(icm_home):
    """Defect 13: the demonstration always showed the label word for 1."""
    at = page("data").run()
    second = json.loads(sample_path("sentiment").read_text().splitlines()[1])
    word = "positive" if second["label"] == 1 else "negative"
    assert at.code[0].value.startswith(f"Review: {second['text']}\nSentiment: {word}\n")


def test_uploaded_text_label_csv_proposes_gold_and_keeps_it_out_of_the_template(icm_home):
    """Defect 2: the template became `{label}\\nI think this claim is` and gold was "(none)"."""
    at = uploaded("mine.csv", b"text,label\ngreat film,1\ndull film,0\nfine film,1\n")
    assert not at.exception
    gold = next(s for s in at.selectbox if s.label.startswith("Gold label column"))
    assert gold.value == "label"
    template = next(t for t in at.text_area if t.label.startswith("Prompt template")).value
    assert "{text}" in template and "{label}" not in template
    assert "3 examples, gold labels present" in " ".join(c.value for c in at.caption)


def test_uploaded_word_labels_propose_label_words_and_a_matching_template(icm_home):
    """A `sentiment` column of positive/negative was refused ("gold label 'positive' is not binary") until the
    user found the sentiment preset and rewrote its template."""
    at = uploaded(
        "reviews.csv", b"review,sentiment\ngreat film,positive\ndull film,negative\nfine film,positive\n"
    )
    assert not at.exception and not at.error
    gold = next(s for s in at.selectbox if s.label.startswith("Gold label column"))
    assert gold.value == "sentiment"
    words = [t.value for t in at.text_input if t.label.startswith("Label word")]
    assert words == [" positive", " negative"]
    template = next(t for t in at.text_area if t.label.startswith("Prompt template")).value
    assert template == "Review: {review}\nSentiment:"
    assert "3 examples, gold labels present" in " ".join(c.value for c in at.caption)


def test_multiclass_upload_proposes_a_class_column_as_gold(icm_home):
    at = uploaded("three.csv", b"text,sentiment\ngreat,positive\nbad,negative\nso-so,neutral\n")
    next(t for t in at.toggle if t.label.startswith("Multi-class")).set_value(True).run()
    gold = next(s for s in at.selectbox if s.label.startswith("Gold class column"))
    assert gold.value == "sentiment"


def test_rows_to_use_and_run_name_follow_the_chosen_file(icm_home):
    """Defects 3 and 4: the row count and the run name kept the previous file's values."""
    at = page("data").run()
    rows = next(n for n in at.number_input if n.label.startswith("Rows to use"))
    rows.set_value(8).run()
    at.selectbox(key="sample").set_value("gsm8k").run()
    rows = next(n for n in at.number_input if n.label.startswith("Rows to use"))
    assert rows.value == 32
    assert next(t for t in at.text_input if t.label == "Run name").value == "gsm8k on gsm8k.jsonl"
    at.selectbox(key="sample").set_value("truthfulqa").run()
    assert next(t for t in at.text_input if t.label == "Run name").value == "truthfulqa on truthfulqa.jsonl"


def test_data_page_shows_mapping_errors_next_to_the_fields(icm_home):
    at = page("data").run()
    template = next(t for t in at.text_area if t.label.startswith("Prompt template"))
    template.set_value("Review: {review}\nSentiment:").run()
    assert "'review'" in at.error[0].value and not at.button
    template.set_value("no field at all").run()  # TaskSpec's own ValueError, shown, not raised
    assert not at.exception and "Cannot use this mapping" in at.error[0].value


@pytest.mark.parametrize(
    "content, where",
    [
        (b'text,label\n"good movie,1\nbad movie,0\nok",1\n', "line 2, column 1"),  # closed on a later line
        (b'text,label\ngood,1\n"bad movie,0\nok,1\n', "line 3, column 1"),  # never closed
        (b'text,label\n"good,1\nbad,0\n', "line 2, column 1"),  # never closed, on the first data line
        (b"text,label\ngood,1\nbad, really bad,0\n", "line 3, column 3"),  # too many fields
    ],
)
def test_malformed_csv_upload_says_what_and_where_without_server_paths(icm_home, content, where):
    """Defect 14: read silently as one row, the parser's error with the server path, shifted columns."""
    at = uploaded("bad.csv", content)
    shown = " ".join(e.value for e in [*at.error, *at.warning])
    assert where in shown and "bad.csv" in shown
    assert str(icm_home) not in shown and "/uploads/" not in shown


# -- Run page (defects 7, 11, 12) ----------------------------------------------------------------------
def test_run_page_shows_progress_metrics_and_charts(finished_run):
    at = page("run").run()
    assert not at.exception
    assert "iteration 10/10" in at.get("progress")[0].proto.text
    labels = [m.label for m in at.metric]
    assert labels == ["U(D)", "I(D)", "Labeled", "Accepted", "Skipped", "Gold agreement"]
    assert at.get("plotly_chart"), "the live charts must render"
    assert any("Worker log" in e.label for e in at.expander)


def test_resume_is_offered_alike_on_the_run_and_runs_pages(finished_run, icm_home):
    """Defect 12: a finished run offered Resume on the Run page but not on the Runs page."""
    at = page("run").run()
    assert not [b for b in at.button if b.key == "start"]  # finished: nothing to resume
    assert page("runs").run().button(key="resume").disabled
    paused = make_run("paused run", run=False)
    Store().set_status(paused, "paused")
    at = page("run", run=paused).run()
    assert at.button(key="start").label == "Resume"
    at = page("runs", run=paused).run()
    assert not at.button(key="resume").disabled


def test_run_page_at_iteration_zero_shows_no_empty_charts(icm_home):
    """Defect 11: eight empty -1..1 axes at iteration 0."""
    run_id = make_run("fresh", run=False)
    store = Store()
    runner = Runner(store, run_id, FakeScorer(hashed_signal(12)))
    runner.annealer.initialize()
    runner._record(None, 0, 0.1)
    at = page("run", run=run_id).run()
    assert not at.get("plotly_chart") and "first one" in at.info[0].value


def test_a_killed_worker_reads_interrupted_everywhere_and_completion_steps_are_not_iterations(icm_home):
    """The Run page said "interrupted" while the Runs table and `icm runs` said "running"; and they counted
    completion-phase steps as iterations ("15 of 10", `it=15`)."""
    import subprocess
    import sys

    run_id = make_run(
        "killed", iterations=3
    )  # 8 labeled at the start, 3 iterations: completion labels the rest
    store = Store()
    assert any(e["phase"] == "complete" for e in store.events(run_id)), "the case of the defect"
    dead = subprocess.Popen(["true"])
    dead.wait()
    store.set_status(run_id, "running")
    store.set_worker(run_id, dead.pid)
    row = page("runs").run().dataframe[0].value.iloc[0]
    assert (row["status"], row["iteration"], row["of"]) == ("interrupted", 3, 3)
    assert (
        page("run", run=run_id).run().get("progress")[0].proto.text.startswith("interrupted · iteration 3/3")
    )
    listed = subprocess.run([sys.executable, "-m", "icm_app.cli", "runs"], capture_output=True, text=True)
    assert "interrupted" in listed.stdout and "it=3/3 " in listed.stdout, listed.stdout


def test_a_starting_run_shows_what_its_worker_is_doing(icm_home):
    """A worker converting the model showed only "Loading the model…" for minutes: the phase, its steps and
    the time since the worker started are on the page."""
    import os

    run_id = make_run("starting", run=False)
    store = Store()
    store.set_status(run_id, "starting")
    store.set_worker(run_id, os.getpid())  # alive
    store.set_phase(run_id, {"text": "de-quantizing tensors", "done": 120, "total": 236,
                             "started": time.time() - 75})  # fmt: skip
    at = page("run", run=run_id).run()
    assert not at.exception
    texts = [p.proto.text for p in at.get("progress")]
    assert texts[0].startswith("starting · iteration 0/10")
    assert re.match(r"de-quantizing tensors 120/236 · 1:1[5-9] elapsed", texts[1]), texts
    store.set_status(run_id, "running")  # a new status ends the phase
    assert store.run(run_id).phase is None


# -- Labels page (defect 9) ----------------------------------------------------------------------------
def test_labels_page_filters_and_overrides_with_audit_trail(finished_run):
    at = page("labels").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 12 and {"label", "confidence", "flips", "violations", "gold", "pinned"} <= set(
        table.columns
    )
    at.multiselect(key="filters").set_value(["unlabeled"]).run()
    assert len(at.dataframe[0].value) == 12 - len(Store().labels(finished_run))
    assert at.radio(key=f"override_label_{finished_run}").value is None  # no default label
    at.multiselect(key=f"override_ids_{finished_run}").set_value([5])
    at.radio(key=f"override_label_{finished_run}").set_value(
        at.radio(key=f"override_label_{finished_run}").options[1]
    )
    at.text_input(key=f"override_note_{finished_run}").set_value("checked by hand")
    at.text_input(key="who_input").set_value("Ada")
    at.button[0].click().run()
    assert "Saved 1 override" in at.success[0].value
    stored = Store().labels(finished_run)[5]
    assert stored["label"] == 0 and stored["pinned"]
    trail = Store().overrides(finished_run)[-1]
    assert trail["note"] == "checked by hand" and trail["who"] == "Ada"
    shown = at.dataframe[1].value  # the audit trail: a readable time, not an epoch number
    assert (
        shown["when"].iloc[-1][:4].isdigit()
        and ":" in shown["when"].iloc[-1]
        and shown["who"].iloc[-1] == "Ada"
    )


def test_apply_with_nothing_selected_says_so(finished_run):
    at = page("labels").run()
    at.button[0].click().run()
    assert "at least one example" in at.warning[0].value
    assert not Store().overrides(finished_run)


def test_override_survives_a_worker_step_that_was_under_way(icm_home):
    """Defect 9: the worker's next checkpoint rewrote the labels without the override, for a whole step."""
    run_id = make_run("live", iterations=6, run=False)
    store = Store()
    runner = Runner(store, run_id, FakeScorer(hashed_signal(12)))
    runner._loop_init = runner.annealer.initialize()
    runner._record(None, 0, 0.0)
    idx, label = next(iter(store.labels(run_id).items()))
    flipped = 1 - label["label"]
    store.add_override(run_id, idx, flipped, who="Ada")
    runner._record(runner.annealer.step(), 0, 0.0)  # the step that was under way: knows nothing of it
    assert store.labels(run_id)[idx]["label"] == flipped and store.labels(run_id)[idx]["pinned"]
    at = page("labels", run=run_id).run()
    row = at.dataframe[0].value.set_index("idx").loc[idx]
    assert row["label"] == flipped and row["pinned"]
    Runner(store, run_id, FakeScorer(hashed_signal(12))).run()  # the worker goes on and applies it
    applied = store.overrides(run_id)[-1]
    assert applied["applied"] and applied["applied_iteration"] >= 1
    assert store.labels(run_id)[idx] | {"score": None, "flips": 0, "agreement": None} == {
        "label": flipped, "pinned": True, "score": None, "flips": 0, "agreement": None,
    }  # fmt: skip


# -- Export page (defect 5) ----------------------------------------------------------------------------
def test_export_page_saves_inside_the_exports_folder_only(finished_run, icm_home):
    at = page("export").run()
    assert not at.exception and at.get("download_button")
    at.button(key="save").click().run()
    saved = icm_home / "exports" / f"icm-{finished_run}.jsonl"
    rows = [json.loads(line) for line in saved.read_text().splitlines()]
    assert rows and all(r["run_id"] == finished_run for r in rows)
    at.text_input(key=f"file_name_jsonl_{finished_run}").set_value("../escape.jsonl")
    at.button(key="save").click().run()
    assert "must be a plain name" in at.error[0].value and not (icm_home / "escape.jsonl").exists()
    assert str(icm_home) not in at.error[0].value


def test_export_file_name_follows_the_format_and_filters_apply_to_fine_tuning(finished_run, icm_home):
    """Defect 5: a CSV kept `.jsonl`, fine-tuning ignored "pinned only", labels became floats in CSV."""
    store = Store()
    store.add_override(finished_run, 3, 1, who="Ada")
    at = page("export").run()
    names = {}
    for choice in ("CSV", "Parquet", "Fine-tuning (prompt/completion JSONL)", "Hugging Face datasets folder"):
        at.selectbox(key="format").set_value(choice).run()
        names[choice] = next(t for t in at.text_input if t.label == "File name").value
    assert names == {"CSV": f"icm-{finished_run}.csv", "Parquet": f"icm-{finished_run}.parquet",
                     "Fine-tuning (prompt/completion JSONL)": f"icm-{finished_run}-finetune.jsonl",
                     "Hugging Face datasets folder": f"icm-{finished_run}"}  # fmt: skip
    at.selectbox(key="format").set_value("Fine-tuning (prompt/completion JSONL)").run()
    at.checkbox(key="pinned_only").check().run()
    at.button(key="save").click().run()
    written = (icm_home / "exports" / f"icm-{finished_run}-finetune.jsonl").read_text().splitlines()
    assert len(written) == 1 and "1 row(s)" in " ".join(c.value for c in at.caption)
    at.selectbox(key="format").set_value("CSV").run()
    at.checkbox(key="pinned_only").uncheck().run()
    at.checkbox(key="labeled_only").uncheck().run()
    at.button(key="save").click().run()
    import pandas as pd

    frame = pd.read_csv(icm_home / "exports" / f"icm-{finished_run}.csv", dtype=str)
    assert set(frame["label"].dropna()) <= {"0", "1"}  # never "1.0"


# -- Runs page (defect 10) -----------------------------------------------------------------------------
def test_runs_page_lists_runs(finished_run):
    at = page("runs").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["id"].tolist() == [finished_run] and table["status"].tolist() == ["finished"]


def test_delete_confirms_and_does_not_arm_the_next_run(two_runs):
    """Defect 10: no message, and the still-ticked box let a second click delete the next run."""
    older, newer = two_runs
    at = page("runs").run()
    assert run_selector(at).value == newer
    at.checkbox(key=f"confirm_delete_{newer}").check().run()
    at.button(key="delete").click().run()
    assert f"Deleted run `{newer}`" in at.success[0].value
    assert [r.id for r in Store().runs()] == [older]
    assert run_selector(at).value == older
    assert not at.checkbox(key=f"confirm_delete_{older}").value and at.button(key="delete").disabled


# -- Evaluate page (defect 6) --------------------------------------------------------------------------
def test_evaluate_page_shows_label_quality_and_stored_results(finished_run):
    store = Store()
    store.add_evaluation(finished_run, "icl", {
        "test": "/some/server/t.jsonl", "n_test": 10, "n_demos": 4, "seeds": [0, 1],
        "methods": [{"method": "zero-shot", "accuracies": [0.5, 0.6], "mean": 0.55, "std": 0.07},
                    {"method": "icm", "accuracies": [0.8, 0.9], "mean": 0.85, "std": 0.07}]})  # fmt: skip
    store.add_evaluation(finished_run, "salience", {"run_p": 1.0, "baseline_ps": [0.1, 2.0], "beaten": 0.5,
                                                    "salient": False, "verdict": "WARNING: only 50%"})  # fmt: skip
    at = page("evaluate").run()
    assert not at.exception
    assert [s.value for s in at.subheader][:5] == [
        "Is ICM worth it on this data?",
        "Label quality (gold is used here only)",
        "Suspect labels (ranked without gold)",
        "Search or objective?",
        "Held-out accuracy",
    ]
    assert (
        len(at.get("plotly_chart")) == 4
    )  # agreement trend, confusion matrix, suspects' precision at K, accuracy
    assert at.warning[-1].value == "WARNING: only 50%"  # after the search-or-objective verdict
    assert "disagree with gold" in " ".join(c.value for c in at.caption)
    # after a reload the form shows the settings the results came from
    assert at.number_input(key=f"demos_{finished_run}").value == 4
    assert at.text_input(key=f"seeds_{finished_run}").value == "0 1"


def test_a_failing_evaluation_is_refused_before_it_starts(finished_run, icm_home):
    """Defect 6: a missing test file said "Evaluation started", the error only in a log."""
    at = page("evaluate").run()
    at.text_input(key=f"test_file_{finished_run}").set_value(str(icm_home / "absent.jsonl"))
    at.button(key="run_eval").click().run()
    assert "Evaluation not started" in at.error[0].value and "no such file" in at.error[0].value
    assert not any("started" in i.value for i in at.info)
    assert not (icm_home / "logs" / f"eval-{finished_run}.json").exists()


def test_a_gold_column_in_the_template_is_refused_beside_the_template(icm_home):
    """No default, and no edit, puts gold into a prompt; the refusal is TaskSpec's GoldLeakError."""
    at = page("data").run()
    template = next(t for t in at.text_area if t.label.startswith("Prompt template"))
    template.set_value("Review: {text}\nGold: {label}\nSentiment:").run()
    assert not at.exception and "gold column 'label'" in at.error[0].value and not at.button
    assert "gold column 'label'" in at.columns[0].error[0].value  # under the template, in its column


def test_an_uploaded_test_file_is_checked_and_named_without_its_server_path(finished_run, icm_home):
    """Defect 6: the test file could only be typed as a server path."""
    at = page("evaluate").run()
    at.file_uploader(key=f"test_upload_{finished_run}").upload("held.jsonl", b'{"text": "item 99"}\n').run()
    at.button(key="run_eval").click().run()
    error = at.error[0].value
    assert "Evaluation not started" in error and "held.jsonl" in error and str(icm_home) not in error


def test_a_live_run_draws_four_panels_and_a_finished_one_all_eight(icm_home):
    """A first draw of the 8-panel figure costs a headless browser ~1.7 s of CPU, taken from the search:
    while the worker lives the page draws U, I, flips and gold only."""
    import os

    run_id = make_run("live")
    store = Store()

    def titles(at: AppTest) -> list[str]:
        spec = json.loads(at.get("plotly_chart")[0].proto.spec)
        return [a["text"] for a in spec["layout"]["annotations"] if a["text"] != "iteration"]

    everything = titles(page("run", run=run_id).run())
    assert len(everything) == 7  # the eighth, tokens per second, needs a scorer that counts tokens
    store.set_status(run_id, "running")
    store.set_worker(run_id, os.getpid())
    live = titles(page("run", run=run_id).run())
    assert [t.split(" ")[0] for t in live] == ["U(D)", "Inconsistency", "Labels", "Agreement"]


# -- Evaluate page: is ICM worth it? -----------------------------------------------------------------------
def _baselines_result(store: Store, run_id: str) -> dict:
    from icm_app.worker.evaluations import baselines_run

    return baselines_run(store, run_id, scorer=FakeScorer(hashed_signal(12, seed=5), coupling=0.5))


def test_evaluate_page_tables_and_charts_the_baselines_with_icm_highlighted(finished_run):
    store = Store()
    result = _baselines_result(store, finished_run)
    at = page("evaluate").run()
    assert not at.exception
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    gold_chart = next(c for c in charts if c["layout"]["title"]["text"] == "Agreement with gold")
    bars = gold_chart["data"][0]
    assert "ICM" in bars["x"] and "gold" not in bars["x"]
    colors = dict(zip(bars["x"], bars["marker"]["color"]))
    assert len({colors["ICM"]} & {c for m, c in colors.items() if m != "ICM"}) == 0  # ICM stands out
    ceiling = next(r for r in result["rows"] if r["method"].startswith("ceiling"))
    assert gold_chart["layout"]["shapes"][0]["y0"] == pytest.approx(ceiling["gold_agreement"])
    frame = next(d.value for d in at.dataframe if "method" in d.value.columns)
    assert list(frame["method"]) == [r["method"] for r in result["rows"]]
    assert "gold agreement" in frame.columns
    icm = next(r for r in result["rows"] if r["method"] == "ICM")["gold_agreement"]
    beaten = [r["method"] for r in result["rows"][:5] if r["gold_agreement"] > icm]
    shown = " ".join(w.value for w in at.warning)
    assert ("beat" in shown and f"ICM {icm:.3f}" in shown) == bool(beaten)


def test_evaluate_page_without_gold_shows_only_the_gold_free_columns(icm_home):
    store = Store()
    task = TaskSpec(name="t", template="Text: {text}\nLabel:")
    rows = [{"text": f"item {i}"} for i in range(12)]
    run_id = store.create_run(build_dataset(rows, task), task, SearchConfig(iterations=5), ScorerConfig(),
                              data_source="mem", name="no gold")  # fmt: skip
    Runner(store, run_id, FakeScorer(hashed_signal(12))).run()
    _baselines_result(store, run_id)
    at = page("evaluate", run=run_id).run()
    assert not at.exception
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "Agreement with gold" not in titles and any(t.startswith("U under") for t in titles)
    frame = next(d.value for d in at.dataframe if "method" in d.value.columns)
    assert "gold agreement" not in frame.columns and not any(m.startswith("ceiling") for m in frame["method"])


@pytest.mark.parametrize("warn", [True, False])
def test_the_zero_shot_check_is_a_warning_only_when_it_warns(finished_run, warn):
    store = Store()
    check = store.latest_evaluation(finished_run, "zero_shot_check")
    assert check is not None, "the runner stores the gold-free check when a run finishes"
    store.add_evaluation(finished_run, "zero_shot_check", {**check, "warn": warn, "message": "MSG"})
    at = page("evaluate").run()
    assert ("MSG" in [w.value for w in at.warning]) == warn
    assert ("MSG" in [s.value for s in at.success]) == (not warn)
    at = page("run").run()  # the end of the run says it too, when it warns
    assert not at.exception and ("MSG" in [w.value for w in at.warning]) == warn


def test_the_baselines_button_starts_the_job(finished_run, monkeypatch):
    started = []
    monkeypatch.setattr(
        "icm_app.ui.evaluate_view.start_job", lambda kind, run, args: started.append((kind, run))
    )
    at = page("evaluate").run()
    at.button(key="run_baselines").click().run()
    assert started == [("baselines", finished_run)]
    assert any("Baselines started" in i.value for i in at.info)
