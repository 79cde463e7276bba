"""End to end with the real bundled model: `icm run` on the sample, `icm resume`, `icm export`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest

from icm_app.store.sqlite_store import Store

pytestmark = pytest.mark.model


def icm(*args: str, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "ICM_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "icm_app.cli", *args], capture_output=True, text=True, env=env, timeout=900
    )


def run_id_of(result: subprocess.CompletedProcess) -> str:
    match = re.search(r"run (\S+) finished", result.stdout)
    assert match, result.stdout + result.stderr
    return match.group(1)


def test_run_resume_export_with_the_bundled_model(icm_home, tmp_path):
    # no completion phase: it would label the rest after iteration 4, and 4 + 4 would no longer be 8 straight
    args = ("run", "--sample", "sentiment", "--limit", "10", "--seed", "3", "--k-init", "4", "--no-complete")
    first = icm(*args, "--iterations", "4", home=icm_home)
    assert first.returncode == 0, first.stderr
    assert "loading google/gemma-3-270m" in first.stdout  # the worker says what it does while starting
    assert "converting" not in first.stdout and "de-quantizing" not in first.stdout  # prepared by the set-up
    run_id = run_id_of(first)

    resumed = icm("resume", run_id, "--iterations", "8", home=icm_home)
    assert resumed.returncode == 0, resumed.stderr
    assert "iterations 8" in resumed.stdout

    straight = icm(*args, "--iterations", "8", home=icm_home)
    straight_id = run_id_of(straight)
    store = Store(icm_home / "runs.sqlite")
    events = store.events(run_id)
    assert [e["iteration"] for e in events] == list(range(0, 9))
    assert all(e["tokens"] >= 0 and e["seconds"] >= 0 for e in events)
    resumed_labels = {i: v["label"] for i, v in store.labels(run_id).items()}
    straight_labels = {i: v["label"] for i, v in store.labels(straight_id).items()}
    assert resumed_labels == straight_labels, "a resumed run must continue the exact trajectory"

    for fmt in ("jsonl", "csv", "parquet"):
        out = tmp_path / f"labels.{fmt}"
        done = icm("export", run_id, "--out", str(out), home=icm_home)
        assert done.returncode == 0, done.stderr
        if fmt == "jsonl":
            rows = [json.loads(line) for line in out.read_text().splitlines()]
        else:
            rows = (pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)).to_dict(orient="records")
        assert len(rows) == len(resumed_labels)
        for row in rows:
            assert row["label"] == resumed_labels[row["idx"]]
            assert row["label_word"] == ("positive" if row["label"] == 1 else "negative")
            assert isinstance(row["logodds_label1"], float)  # toward label 1; confidence: toward the row's
            assert row["confidence"] == pytest.approx(
                row["logodds_label1"] * (1 if row["label"] == 1 else -1)
            )
            assert row["run_id"] == run_id and "gemma-3-270m" in row["model"]
            assert json.loads(row["config"])["search"]["iterations"] == 8


def test_bad_input_gets_one_line_and_exit_2(icm_home, tmp_path):
    missing = icm("run", str(tmp_path / "nope.csv"), "--preset", "sentiment", home=icm_home)
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "no such file" in missing.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("review,label\nfine,1\n")
    wrong_column = icm("run", str(bad), "--preset", "sentiment", home=icm_home)
    assert wrong_column.returncode == 2 and "'text'" in wrong_column.stderr
    assert icm("resume", "no-such-run", home=icm_home).returncode == 2
