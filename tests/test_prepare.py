"""Preparing the bundled model: once per machine, under a lock, never leaving a partial folder.

The concurrency and kill tests run the real `icm prepare` (lock, stale sweep, marker, atomic rename) with a
fake, slow conversion (tests/fake_prepare.py), so a SIGKILL can land at a known moment in seconds; the real
conversion is what the test command's set-up runs, and the model test below checks its result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from icm_app.scoring import bundled

FAKE = Path(__file__).with_name("fake_prepare.py")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "model-cache"
    folder.mkdir()
    monkeypatch.setenv("ICM_MODEL_CACHE", str(folder))
    return folder


def start(seconds: float, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(FAKE), str(seconds), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    return out


def conversions(cache: Path) -> list[str]:
    log = cache / "conversions.log"
    return log.read_text().split() if log.exists() else []


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob(bundled.TMP_PREFIX + "*"))


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"gave up after {timeout} s waiting for {what}"
        time.sleep(0.05)


def test_two_prepares_at_once_convert_once_and_the_other_waits(cache):
    first = start(6.0)
    wait_for(lambda: conversions(cache), "the first conversion to start")
    second = start(0.2)
    out_first, out_second = finish(first), finish(second)
    assert conversions(cache) == [str(first.pid)]
    assert "waiting: another process" in out_second and "de-quantizing tensors" in out_second
    assert "bundled model ready" in out_first and "bundled model ready" in out_second
    assert bundled.problem() is None and leftovers(cache) == []
    assert not (cache / bundled.PROGRESS).exists()


def test_the_converter_killed_mid_way_leaves_nothing_and_the_waiter_converts(cache):
    first = start(30.0)
    wait_for(lambda: len(list(cache.glob(".convert-*/shard-*"))) >= 2, "the first conversion's shards")
    second = start(1.0)
    wait_for(lambda: (cache / bundled.PROGRESS).exists(), "the progress file")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert not bundled.model_dir().exists(), "a killed conversion must not leave a folder that looks ready"
    out = finish(second)
    assert conversions(cache) == [str(first.pid), str(second.pid)]
    assert "left by an interrupted conversion" in out
    assert bundled.problem() is None and leftovers(cache) == []


@pytest.mark.parametrize("kill_after", [0.1, 0.5, 1.2, 2.5])
def test_a_conversion_killed_at_any_moment_is_cleaned_up_by_the_next(cache, kill_after):
    proc = start(2.0)
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    folder = bundled.model_dir()
    assert not folder.exists() or bundled.problem() is None  # absent, or complete: never partial
    finish(start(0.2))
    assert bundled.problem() is None and leftovers(cache) == []


def test_a_ready_cache_is_not_converted_again(cache):
    finish(start(0.2))
    out = finish(start(0.2))
    assert len(conversions(cache)) == 1
    assert "preparing" not in out and "bundled model ready" in out


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda f: (f / "model.safetensors").write_bytes(b"\0" * 7), "model.safetensors holds 7 bytes"),
        (lambda f: (f / bundled.MARKER).unlink(), "no valid icm-prepared.json"),
        (lambda f: (f / "config.json").unlink(), "config.json is missing"),
    ],
    ids=["truncated", "no-marker", "missing-file"],
)
def test_a_corrupt_or_partial_cache_is_detected_reported_and_rebuilt(cache, damage, reason):
    finish(start(0.2))
    damage(bundled.model_dir())
    assert reason in bundled.problem()
    check = subprocess.run([sys.executable, str(FAKE), "0", "--check"], capture_output=True, text=True)
    assert check.returncode == 1 and reason in check.stdout
    out = finish(start(0.2))
    assert reason in out and len(conversions(cache)) == 2
    assert bundled.problem() is None


def test_a_safetensors_file_that_disagrees_with_its_header_is_corrupt(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(16))
    assert bundled._safetensors_problem(path) is None
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(12))
    assert "does not match its header" in bundled._safetensors_problem(path)


@pytest.mark.model
def test_the_set_up_left_the_real_model_ready():
    """The test command's set-up ran `icm prepare`: the real cache passes the check and the command returns
    without converting (the suite never converts on a model test's clock)."""
    done = subprocess.run(
        [sys.executable, "-m", "icm_app.cli", "prepare"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "preparing" not in done.stdout and "bundled model ready" in done.stdout
    assert bundled.problem() is None
