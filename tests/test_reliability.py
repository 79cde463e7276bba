"""Bad input, concurrency and untrusted files: clear errors, nothing lost, nothing executed."""

from __future__ import annotations

import json
import string
import threading

import pytest
from conftest import FakeScorer, hashed_signal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icm_app.cli import build_parser, main
from icm_app.core.config import SearchConfig
from icm_app.io.loaders import DataError, build_dataset, read_rows
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import TaskSpec
from icm_app.tasks.template import TemplateError, render, template_fields
from icm_app.worker.runner import Runner

TASK = TaskSpec(name="t", template="Text: {text}\nLabel:", gold_field="label")
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# -- bad input: one clear message, nothing changed ---------------------------------------------------
@FUZZ
@given(data=st.binary(max_size=300), ext=st.sampled_from(["csv", "json", "jsonl", "parquet"]))
def test_importers_either_read_rows_or_raise_data_error(tmp_path, data, ext):
    path = tmp_path / f"fuzz.{ext}"
    path.write_bytes(data)
    try:
        rows = read_rows(path)
    except DataError as exc:
        assert path.name in str(exc) and str(path.parent) not in str(exc)  # the file, never the server path
        return
    assert rows and all(isinstance(r, dict) for r in rows)


@FUZZ
@given(text=st.text(alphabet=string.printable + "{}éß", max_size=40))
def test_template_renderer_renders_or_raises_template_error_and_never_runs_code(text):
    fields = {"a": "A", "b": "B"}
    try:
        names = template_fields(text)
        out = render(text, fields)
    except TemplateError:
        return
    assert set(names) <= set(fields) or not names
    assert "<class" not in out and "object at 0x" not in out


def test_template_cannot_reach_python_attributes():
    for evil in ("{a.__class__.__mro__}", "{a.__init__.__globals__}", "{a[0]}", "{0}", "{a!r}"):
        with pytest.raises(TemplateError):
            render(evil, {"a": "x"})


@pytest.mark.parametrize(
    ("rows", "task", "message"),
    [
        ([{"text": "only one", "label": 1}], TASK, "at least 2 examples"),
        ([{"text": "a", "label": 1}, {"text": float("nan"), "label": 0}], TASK, "row 1: field 'text'"),
        ([{"text": "a", "label": "maybe"}, {"text": "b", "label": 0}], TASK, "not binary"),
        ([{"review": "a"}, {"review": "b"}], TASK, "column 'text' is not in the data"),
        ([{"text": "a", "id": 1}, {"text": "b", "id": 1}], TaskSpec(name="t", template="{text}", id_field="id"), "duplicate id"),
        ([{"text": "a", "g": 1}, {"text": "b", "g": 1}, {"text": "c", "g": 2}],
         TaskSpec(name="t", template="{text}", group_field="g", rules=("asymmetric",)), "group '2'"),
        ([{"text": "a", "g": 1}, {"text": "b", "g": 2}, {"text": "c", "g": 2}],
         TaskSpec(name="t", template="{text}", group_field="g", rules=("one_of_k",)), "one member"),
    ],
)  # fmt: skip
def test_bad_datasets_get_a_message_naming_the_problem(rows, task, message):
    with pytest.raises(DataError, match=message):
        build_dataset(rows, task)


def test_oversized_input_is_refused_before_reading(tmp_path, monkeypatch):
    big = tmp_path / "big.jsonl"
    with open(big, "wb") as f:  # a sparse 1 GB file: costs no disk, must not be read
        f.truncate(2**30 + 1)
    with pytest.raises(DataError, match="input limit"):
        read_rows(big)
    monkeypatch.setenv("ICM_MAX_INPUT_MB", "0.0001")
    small = tmp_path / "small.jsonl"
    small.write_text('{"text": "a"}\n' * 20)
    with pytest.raises(DataError, match="ICM_MAX_INPUT_MB"):
        read_rows(small)


def test_cli_reports_bad_input_in_one_line_and_creates_no_run(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": 1}\n{"text": \n')
    assert main(["run", str(bad), "--preset", "sentiment"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 2" in err
    assert main(["run", "--sample", "sentiment", "--alpha", "-1"]) == 2
    assert "SearchConfig.alpha=-1.0" in capsys.readouterr().err
    assert Store().runs() == []


# -- concurrency ------------------------------------------------------------------------------------
def _new_run(store: Store, iterations: int) -> str:
    rows = [{"text": f"item {i}", "label": i % 2} for i in range(12)]
    return store.create_run(build_dataset(rows, TASK), TASK, SearchConfig(iterations=iterations), ScorerConfig(),
                            data_source="mem")  # fmt: skip


def test_two_runs_a_reader_and_overrides_at_once_lose_nothing(icm_home):
    setup = Store()
    runs = [_new_run(setup, 40), _new_run(setup, 40)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def search(run_id: str) -> None:
        try:
            Runner(Store(), run_id, FakeScorer(hashed_signal(12))).run()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def read() -> None:  # the app's pages, polling
        store = Store()
        while not stop.is_set():
            for run_id in runs:
                store.events(run_id), store.labels(run_id)

    def override() -> None:  # a second browser tab
        store = Store()
        for k in range(10):
            store.add_override(runs[k % 2], k, k % 2, who=f"tab-{k}")

    threads = [threading.Thread(target=search, args=(r,)) for r in runs]
    threads += [threading.Thread(target=read), threading.Thread(target=override)]
    for t in threads:
        t.start()
    for t in threads[:2] + threads[3:]:
        t.join(timeout=120)
    stop.set()
    threads[2].join(timeout=10)
    assert not errors
    store = Store()
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for n, run_id in enumerate(runs):
        events = store.events(run_id)  # 40 iterations, then the completion phase labels what is left
        assert [e["iteration"] for e in events] == list(range(len(events)))
        assert sum(e["phase"] in ("init", "search") for e in events) == 41 and events[-1]["n_labeled"] == 12
        trail = store.overrides(run_id)
        assert len(trail) == 5
        labels = store.labels(run_id)
        for o in trail:  # every override landed and was honoured, applied before or during the run
            assert labels[o["idx"]]["label"] == o["new_label"] and labels[o["idx"]]["pinned"]
        assert all(o["idx"] % 2 == n for o in trail)


# -- what the app trusts ----------------------------------------------------------------------------
def test_app_binds_to_localhost_and_trusts_no_remote_code_by_default():
    args = build_parser().parse_args(["app"])
    assert args.address == "127.0.0.1" and args.max_upload_mb == 200
    assert ScorerConfig().trust_remote_code is False
    run = build_parser().parse_args(["run", "--sample", "sentiment"])
    assert run.trust_remote_code is None  # only an explicit --trust-remote-code turns it on


def test_exports_and_stored_config_hold_no_secrets(icm_home, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
    store = Store()
    run_id = _new_run(store, 3)
    Runner(store, run_id, FakeScorer(hashed_signal(12))).run()
    from icm_app.io.export import export_run

    out = export_run(store, run_id, tmp_path / "x.jsonl")
    assert "sk-secret-123" not in out.read_text()
    for db_file in icm_home.glob("runs.sqlite*"):  # the database and its WAL
        assert "sk-secret-123" not in db_file.read_bytes().decode("latin-1")
    assert "sk-secret-123" not in json.dumps(store.run(run_id).scorer)
