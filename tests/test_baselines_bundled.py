"""The baselines, the gold-free check and a sweep end to end on the bundled model (real runs, real files)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest

from icm_app.store.sqlite_store import Store

pytestmark = pytest.mark.model


def _icm(*args: str, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "ICM_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "icm_app.cli", *args], capture_output=True, text=True, env=env,
                          timeout=900)  # fmt: skip


def test_icm_baselines_on_a_real_run_prints_the_table_and_writes_csv(copy_bundled_runs, icm_home, tmp_path):
    seed0, _ = copy_bundled_runs
    check = Store().latest_evaluation(seed0, "zero_shot_check")
    assert check is not None and check["n"] == len(Store().examples(seed0))  # stored when the run finished
    out_csv = tmp_path / "baselines.csv"
    done = _icm("baselines", seed0, "--draws", "2", "--csv", str(out_csv), home=icm_home)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out_csv.open()))
    methods = [r["method"] for r in rows]
    assert methods[:2] == ["zero-shot (raw)", "zero-shot (calibrated)"] and "ICM" in methods
    assert methods[-1] == "ceiling (leave-one-out, gold context)"
    for r in rows:
        assert 0.0 <= float(r["gold agreement"]) <= 1.0
        if r["method"] not in ("ICM", "gold") and not r["method"].startswith("ceiling"):  # the ceiling's
            assert int(r["tokens"]) > 0, r  # prompts are gold's U prompts, already in the prefix cache
    stored = Store().latest_evaluation(seed0, "baselines")
    icm = next(r for r in stored["rows"] if r["method"] == "ICM")
    events = Store().events(seed0)
    assert icm["U"] == pytest.approx(events[-1]["U"], rel=1e-3)  # U recomputed under the run's objective
    assert "ICM" in done.stdout and "ceiling" in done.stdout


def test_icm_sweep_from_a_real_run(copy_bundled_runs, icm_home):
    seed0, _ = copy_bundled_runs
    # 3 iterations and 1 chain, not the source run's 8 x 2 (2 minutes): the flags override --from's settings
    args = ("--alpha", "10", "50", "--seeds", "0", "--iterations", "3", "--restarts", "1")
    done = _icm("sweep", "--from", seed0, *args, home=icm_home)
    assert done.returncode == 0, done.stderr
    assert "α=10" in done.stdout and "α=50" in done.stdout and "gold agreement" in done.stdout
    store = Store()
    ((sweep_id, spec),) = [(j, s) for j, s in store.jobs() if s.get("kind") == "sweep"]
    runs = [store.run(r["run_id"]) for r in spec["runs"]]
    assert [r.status for r in runs] == ["finished", "finished"]
    assert [r.search["alpha"] for r in runs] == [10.0, 50.0]
    assert {(r.search["iterations"], r.search["restarts"]) for r in runs} == {(3, 1)}  # flags beat --from
    assert all(len(store.examples(r.id)) == len(store.examples(seed0)) for r in runs)
