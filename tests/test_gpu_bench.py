"""scripts/gpu_bench.py end to end on the CPU with tiny shapes (`--tiny`): what a bare GPU machine runs.

Catches: the script breaking on a refactor of bench/scoring/CLI (it is only ever run by hand on a GPU
machine, where a failure costs scarce device time), a section failing silently, a missing table row.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.model  # uses the bundled model's tokenizer (prepared by the set-up)
def test_gpu_bench_runs_end_to_end_on_tiny_shapes(tmp_path):
    from icm_app.scoring.bundled import prepare

    tokenizer = prepare()
    proc = subprocess.run(
        [sys.executable, "scripts/gpu_bench.py", "--tiny", "--tokenizer", str(tokenizer), "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "FAILED" not in out, out[-3000:]
    for expected in ("gemma-3-270m shape", "Llama-3.1-8B shape", "calls per evaluation", "float32 exactness",
                     "one evaluation, bf16", "(exit 0)", "leave-one-out queries"):  # fmt: skip
        assert expected in out, expected
    figures = json.loads((tmp_path / "gpu_bench.json").read_text())
    modes = {p["mode"] for r in figures["results"] for p in r["report"]["phases"]}
    assert {"tree", "prefix", "naive"} <= modes
