"""Throughput of a llama.cpp server (bundled GGUF) on one U evaluation, with and without its prefix cache.

Usage: python scripts/server_throughput.py [N]   (starts and SIGKILLs the servers itself, on 127.0.0.1)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from icm_app.cli import SAMPLES_DIR
from icm_app.core.config import SearchConfig
from icm_app.core.context import shuffled_order
from icm_app.core.objective import Objective
from icm_app.io.loaders import load_dataset
from icm_app.scoring.openai_backend import OpenAIBackend
from icm_app.scoring.prompts import PromptScorer
from icm_app.tasks.presets import get_preset

SERVER = Path(__file__).resolve().parent.parent / "tests" / "llamacpp_server.py"


def measure(n: int, cache: bool) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [sys.executable, str(SERVER), str(port)] + ([] if cache else ["--no-cache"])
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        task = get_preset("sentiment")
        data = load_dataset(SAMPLES_DIR / "rt_polarity.jsonl", task, limit=n)
        server = OpenAIBackend(
            f"openai:http://127.0.0.1:{port}/v1",
            task.label_words,
            top_logprobs=100,
            max_in_flight=1,
            cache_prompt=cache,
        )
        objective = Objective(PromptScorer(data.examples, task, server), SearchConfig(calibrate=True),
                              order=shuffled_order(range(n), 0), groups={}, rules=())  # fmt: skip
        labels = {i: i % 2 for i in range(n)}
        start = time.perf_counter()
        objective.evaluate(labels)
        seconds = time.perf_counter() - start
        total = server.tokens_processed + server.cached_tokens
        return (f"prefix cache {'on ' if cache else 'off'}: {server.requests} requests, {total:,} prompt tokens, "
                f"{server.cached_tokens:,} served from cache, {server.tokens_processed:,} computed, {seconds:.1f} s, "
                f"{total / seconds:,.0f} prompt tokens/s effective")  # fmt: skip
    finally:
        os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    print(f"one calibrated U evaluation, {n} sentiment examples, llama.cpp (xllamacpp), 2 CPU threads")
    for cache in (True, False):
        print(measure(n, cache), flush=True)
