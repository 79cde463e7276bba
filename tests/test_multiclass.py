"""Multi-class tasks: class names -> one claim per class per row (one-of-k groups) -> labels -> one class
per original row in every export format; refusals; the Data page path; `icm run --classes` end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import FakeScorer
from test_app_pages import page

from icm_app.core.config import SearchConfig
from icm_app.io.export import class_rows, export_run
from icm_app.io.loaders import DataError, build_dataset, load_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import Store
from icm_app.tasks.multiclass import ClassError, gold_class, multiclass_task, parse_classes
from icm_app.tasks.presets import TaskSpec, get_preset
from icm_app.worker.runner import Runner

FILE = Path(__file__).parent / "data" / "three_classes.csv"
CLASSES = ("positive", "negative", "neutral")
GOLD = ["positive", "negative", "neutral", "positive", "neutral", "negative"]  # the file's classes, any case


def three_class_run(store: Store) -> tuple[str, TaskSpec]:
    task = multiclass_task("text", "positive, negative, neutral", gold_field="label")
    dataset = load_dataset(FILE, task)
    run_id = store.create_run(dataset, task, SearchConfig(iterations=40, seed=0), ScorerConfig(),
                              data_source=str(FILE), name="three classes")  # fmt: skip
    return run_id, task


def test_class_names_are_parsed_and_bad_lists_refused():
    assert parse_classes(" positive, negative ,, neutral ") == CLASSES
    assert parse_classes(["a", "b"]) == ("a", "b")
    for bad, why in (("", "at least two"), (" , ", "at least two"), ("only", "at least two"),
                     ("pos, neg, Pos", "given twice"), (["x", "x"], "given twice")):  # fmt: skip
        with pytest.raises(ClassError, match=why):
            parse_classes(bad)
    with pytest.raises(ValueError, match="given twice"):  # the TaskSpec itself refuses too
        TaskSpec(name="t", template="{text} {icm_class}", classes=("a", "A"))
    with pytest.raises(ClassError, match="must name"):
        multiclass_task("text", CLASSES, template="Text: {text}\nI think this claim is")
    with pytest.raises(ClassError, match="gold class column"):
        multiclass_task("label", CLASSES, gold_field="label")


def test_claims_are_one_per_class_per_row_in_one_of_k_groups_with_per_claim_gold():
    task = multiclass_task("text", CLASSES, gold_field="label")
    assert task.rules == ("one_of_k",) and task.label_words == (" True", " False")
    assert task.template == "Text: {text}\nClaim: The label is {icm_class}.\nI think this claim is"
    dataset = load_dataset(FILE, task)
    assert len(dataset.examples) == 6 * 3
    for row in range(6):
        claims = dataset.examples[3 * row : 3 * row + 3]
        assert {c.group for c in claims} == {str(row)}
        assert [c.fields["icm_class"] for c in claims] == list(CLASSES)
        assert [dataset.gold[c.idx] for c in claims] == [int(c == GOLD[row]) for c in CLASSES]
    # a stored task keeps its classes; a binary task's dict is unchanged (no `classes` key)
    assert TaskSpec.from_dict(json.loads(json.dumps(task.to_dict()))).classes == CLASSES
    assert "classes" not in get_preset("sentiment").to_dict()
    # without gold (use_gold=False) a gold value that names no class is not read at all
    unread = build_dataset([{"text": "x", "label": "nope"}, {"text": "y"}], task, use_gold=False)
    assert len(unread.examples) == 6 and unread.gold is None


def test_gold_classes_from_names_or_two_class_numbers_else_refused(tmp_path):
    assert gold_class("POSITIVE", CLASSES) == "positive"
    assert gold_class(1, ("positive", "negative")) == "positive"  # first class means 1, like label words
    assert gold_class("0", ("positive", "negative")) == "negative"
    with pytest.raises(ClassError, match="not one of the classes"):
        gold_class(2, CLASSES)
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nfine,positive\nodd,sarcastic\n")
    with pytest.raises(DataError, match="row 1: gold value 'sarcastic'"):
        load_dataset(bad, multiclass_task("text", CLASSES, gold_field="label"))
    clash = tmp_path / "clash.csv"
    clash.write_text("text,icm_class\nfine,a\nodd,b\n")
    with pytest.raises(DataError, match="reserved"):
        load_dataset(clash, multiclass_task("text", CLASSES))


def _read(path: Path, fmt: str) -> list[dict]:
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if fmt == "datasets":
        from datasets import load_from_disk

        return [dict(r) for r in load_from_disk(str(path))]
    frame = pd.read_csv(path, keep_default_na=False) if fmt == "csv" else pd.read_parquet(path)
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "datasets"])
def test_labels_round_trip_to_one_class_per_row_in_every_format(icm_home, tmp_path, fmt):
    """Class names -> claims -> labels -> one class per row. Rows 0-3: exactly one True claim (row 1's is
    not gold: the label wins, not gold); row 4: two True (ambiguous, not guessed); row 5: none True."""
    store = Store()
    run_id, _ = three_class_run(store)
    chosen = {0: "positive", 1: "neutral", 2: "neutral", 3: "positive"}
    labels = {}
    for claim in store.examples(run_id):
        row, cls = int(claim["row"]["icm_row"]), claim["fields"]["icm_class"]
        label = int(cls == chosen[row]) if row in chosen else int(row == 4 and cls != "neutral")
        labels[claim["idx"]] = {"label": label, "score": 1.0 if label else -1.0, "flips": 0, "pinned": False}
    store.keep_chain(run_id, 0, labels, {"iteration": 1}, {})
    rows = _read(export_run(store, run_id, tmp_path / f"out.{fmt}"), fmt)
    assert [r["row"] for r in rows] == list(range(6))
    assert [r["text"] for r in rows] == pd.read_csv(FILE)["text"].tolist()
    assert [r["class"] or None for r in rows] == ["positive", "neutral", "neutral", "positive", None, None]
    assert [bool(r["ambiguous"]) for r in rows] == [False] * 4 + [True, True]
    assert "several classes labeled True: positive, negative" in rows[4]["status"]
    assert "no class labeled True" in rows[5]["status"]
    assert json.loads(rows[0]["class_scores"]) == {"positive": 1.0, "negative": -1.0, "neutral": -1.0}
    assert all(r["run_id"] == run_id for r in rows)


def test_unlabeled_rows_are_neither_classed_nor_ambiguous(icm_home):
    store = Store()
    run_id, _ = three_class_run(store)
    first = {c["idx"] for c in store.examples(run_id) if c["row"]["icm_row"] == "0"}
    labels = {i: {"label": int(i == min(first)), "score": 0.0, "flips": 0, "pinned": False} for i in first}
    store.keep_chain(run_id, 0, labels, {"iteration": 1}, {})
    assert [r["row"] for r in class_rows(store, run_id)] == [0]  # labeled only (the default)
    every = class_rows(store, run_id, labeled_only=False)
    assert [(r["class"], r["ambiguous"], r["status"]) for r in every[:2]] == [
        ("positive", False, "one class"), (None, False, "unlabeled")]  # fmt: skip


def test_search_with_one_of_k_gives_every_row_one_class(icm_home):
    """A fake model that believes the gold claim: the search (one-of-k rule, completion phase) must end with
    one True claim per row, and the export must turn that into the gold class of every row."""
    store = Store()
    run_id, _ = three_class_run(store)
    gold = {c["idx"]: c["gold"] for c in store.examples(run_id)}
    summary = Runner(store, run_id, FakeScorer({i: 3.0 if g else -3.0 for i, g in gold.items()})).run()
    assert summary.status == "finished" and summary.I == 0 and summary.n_labeled == 18
    rows = class_rows(store, run_id)
    assert [r["class"] for r in rows] == GOLD and not any(r["ambiguous"] for r in rows)


def test_data_page_builds_claims_from_class_names_and_creates_the_run(icm_home):
    at = page("data").run()
    at.toggle(key="multi_sample-sentiment").set_value(True).run()
    assert not at.exception and "class names" in at.info[0].value
    at.text_input(key="classes_sample-sentiment").input("positive, negative, Positive").run()
    assert "given twice" in at.error[0].value
    at.text_input(key="classes_sample-sentiment").input("positive, negative").run()
    next(n for n in at.number_input if n.label.startswith("Rows to use")).set_value(4).run()
    assert not at.error
    assert any("4 rows × 2 classes = 8 claims" in c.value for c in at.caption)
    preview = at.code[0].value
    assert "Claim: The label is negative." in preview and "Claim: The label is positive." in preview
    assert preview.endswith("I think this claim is▌")
    at.button(key="create").click().run()
    assert "Created run" in at.success[0].value
    run = Store().runs()[0]
    assert run.task["classes"] == ["positive", "negative"] and run.task["rules"] == ["one_of_k"]
    claims = Store().examples(run.id)
    assert len(claims) == 8 and [c["gold"] for c in claims[:2]] == [0, 1]  # row 0 is negative (label 0)


def _icm(*args: str, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "ICM_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "icm_app.cli", *args], capture_output=True, text=True, env=env,
                          timeout=1200)  # fmt: skip


def test_icm_run_refuses_bad_class_options(icm_home):
    empty = _icm("run", str(FILE), "--classes", "--class-text-field", "text", home=icm_home)
    assert empty.returncode == 2 and "at least two class names" in empty.stderr
    dup = _icm("run", str(FILE), "--classes", "a", "A", "--class-text-field", "text", home=icm_home)
    assert dup.returncode == 2 and "given twice" in dup.stderr
    no_text = _icm("run", str(FILE), "--classes", "a", "b", home=icm_home)
    assert no_text.returncode == 2 and "--class-text-field" in no_text.stderr


@pytest.mark.model
def test_icm_run_classes_on_the_bundled_sentiment_sample_with_the_real_model(icm_home, tmp_path):
    """positive/negative as a two-class task on the real model: 4 rows -> 8 claims, each row exported with
    one class or flagged ambiguous, and the class agrees with gold where the claims' labels do."""
    done = _icm("run", "--sample", "sentiment", "--limit", "4", "--classes", "positive", "negative",
                "--class-text-field", "text", "--class-gold-field", "label", "--iterations", "6",
                "--restarts", "1", "--seed", "0", home=icm_home)  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_id = re.search(r"run (\S+) finished", done.stdout).group(1)
    assert "rows: 4," in done.stdout
    store = Store(icm_home / "runs.sqlite")
    assert len(store.examples(run_id)) == 8 and "gemma-3-270m" in store.run(run_id).model
    out = tmp_path / "classes.csv"
    exported = _icm("export", run_id, "--out", str(out), home=icm_home)
    assert exported.returncode == 0, exported.stderr
    rows = pd.read_csv(out, keep_default_na=False).to_dict(orient="records")
    assert len(rows) == 4
    labels = {i: v["label"] for i, v in store.labels(run_id).items()}
    gold = [json.loads(line)["label"] for line in
            (Path(__file__).parents[1] / "sample_data" / "rt_polarity.jsonl").read_text().splitlines()[:4]]  # fmt: skip
    for r in rows:
        claims = json.loads(r["claims"])
        trues = [i for i in claims if labels.get(i) == 1]
        if len(trues) == 1:
            assert r["class"] == ("positive" if trues[0] == claims[0] else "negative") and not r["ambiguous"]
        else:
            assert r["class"] == "" and r["ambiguous"]
        assert r["text"]
    assert gold  # gold 1/0 mapped to the first/second class: the claims' gold says so
    claim_gold = {c["idx"]: c["gold"] for c in store.examples(run_id)}
    assert [claim_gold[2 * k] for k in range(4)] == gold
