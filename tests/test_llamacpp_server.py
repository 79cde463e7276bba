"""A real llama.cpp server (PyPI xllamacpp) serving the bundled GGUF on 127.0.0.1: an ICM run through it,
and its scores against the in-process transformers scorer on the same weights."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from icm_app.cli import SAMPLES_DIR
from icm_app.core.config import SearchConfig
from icm_app.core.context import shuffled_order
from icm_app.core.objective import Objective
from icm_app.io.loaders import load_dataset
from icm_app.scoring.models import ScorerConfig, load_model
from icm_app.scoring.openai_backend import OpenAIBackend
from icm_app.scoring.prompts import PromptScorer
from icm_app.scoring.transformers_backend import TransformersBackend
from icm_app.tasks.presets import get_preset

pytest.importorskip("xllamacpp")
pytestmark = pytest.mark.model
HERE = Path(__file__).resolve().parent
# Measured on 10 sentiment sentences x 3 label sets (calibrated log-odds): llama.cpp runs the Q4_K_M weights
# with its own quantized kernels, we run the same weights de-quantized to fp32; max |diff| measured 0.355.
TOLERANCE = 0.5


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(HERE / "llamacpp_server.py"), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if (
                json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read())[
                    "status"
                ]
                == "ok"
            ):
                return proc
        except (OSError, ValueError, KeyError):
            time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("llama.cpp server did not start")


@pytest.fixture(scope="module")
def server_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start_server(port)
    yield f"http://127.0.0.1:{port}/v1"
    os.killpg(proc.pid, signal.SIGKILL)  # llama.cpp ignores SIGTERM
    proc.wait(timeout=30)


def test_server_scores_match_in_process_scores_within_quantisation_tolerance(server_url):
    task = get_preset("sentiment")
    data = load_dataset(SAMPLES_DIR / "rt_polarity.jsonl", task, limit=10)
    order = shuffled_order([e.idx for e in data.examples], 0)
    config = SearchConfig(calibrate=True)
    server = OpenAIBackend("openai:" + server_url, task.label_words, top_logprobs=100, max_in_flight=1)
    local = TransformersBackend(*load_model(ScorerConfig()), task.label_words)
    objs = [Objective(PromptScorer(data.examples, task, b), config, order=order, groups={}, rules=())
            for b in (server, local)]  # fmt: skip
    rng = random.Random(0)
    worst = 0.0
    for _ in range(3):
        labels = {i: rng.randint(0, 1) for i in range(10)}
        a, b = (o.logodds(labels, sorted(labels)) for o in objs)
        worst = max(worst, *(abs(a[i] - b[i]) for i in labels))
    print(f"max |server - in-process| log-odds: {worst:.4f}; server floored {server.floored}")
    assert server.floored == 0, "raise top_logprobs: a label word fell outside the top-k"
    assert worst <= TOLERANCE
    assert server.cached_tokens > 0, "consecutive prompts share prefixes, so the server must reuse its cache"


def test_an_icm_run_through_the_server(server_url, icm_home):
    env = {**os.environ, "ICM_HOME": str(icm_home)}
    done = subprocess.run(
        [sys.executable, "-m", "icm_app.cli", "run", "--sample", "sentiment", "--limit", "8", "--iterations", "5",
         "--k-init", "4", "--model", "openai:" + server_url, "--top-logprobs", "100"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = re.search(r"finished: 8/8 labeled, iterations (\d+)", done.stdout)
    assert found and int(found.group(1)) >= 5, (
        "5 search iterations, then the completion phase labels the rest"
    )
