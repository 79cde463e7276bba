"""The OpenAI-compatible server backend: both response layouts, retries, faults, and a run that pauses when
its server dies and resumes when it is back. Uses a recorded-format fake server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from icm_app.core.config import SearchConfig
from icm_app.io.loaders import build_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.scoring.openai_backend import (
    OpenAIBackend,
    ServerProtocolError,
    ServerUnavailableError,
    top_logprobs,
)
from icm_app.scoring.prompts import PromptScorer
from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import TaskSpec
from icm_app.worker.runner import Runner

WORDS = (" True", " False")


def vllm_response(prompt: str, top: dict[str, float]) -> dict:
    """The legacy completions layout vLLM and SGLang return (vLLM docs, OpenAI-compatible server)."""
    token = max(top, key=top.get)
    return {
        "id": "cmpl-1", "object": "text_completion", "created": 0, "model": "meta-llama/Llama-3.1-70B",
        "choices": [{"index": 0, "text": token, "finish_reason": "length", "stop_reason": None,
                     "logprobs": {"text_offset": [len(prompt)], "token_logprobs": [top[token]],
                                  "tokens": [token], "top_logprobs": [top]}}],
        "usage": {"prompt_tokens": len(prompt.split()), "total_tokens": 1 + len(prompt.split()),
                  "completion_tokens": 1, "prompt_tokens_details": None},
    }  # fmt: skip


def llamacpp_response(top: dict[str, float]) -> dict:
    items = [
        {"id": k, "token": t, "bytes": list(t.encode()), "logprob": v} for k, (t, v) in enumerate(top.items())
    ]
    return {"choices": [{"text": items[0]["token"], "index": 0, "logprobs": {"content": [{**items[0], "top_logprobs": items}]}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 4}},
            "timings": {"cache_n": 4, "prompt_n": 5}}  # fmt: skip


def fake_top(prompt: str) -> dict[str, float]:
    """Deterministic per-prompt log-probs, both label words present."""
    h = int(hashlib.sha256(prompt.encode()).hexdigest()[:6], 16) / 0xFFFFFF
    return {" True": -0.2 - h, " False": -1.5 + h, " maybe": -3.0}


class FakeServer:
    """A vLLM-style completions server whose behaviour a test can script (faults, delays, layouts)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.faults: list[int | str] = []  # HTTP codes or "malformed" / "slow", consumed in order
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({**body, "auth": self.headers.get("Authorization")})
                fault = outer.faults.pop(0) if outer.faults else None
                if fault == "slow":
                    time.sleep(1.0)
                if isinstance(fault, int):
                    self.send_response(fault)
                    self.end_headers()
                    self.wfile.write(b'{"error": "scripted"}')
                    return
                payload = (
                    b"{not json"
                    if fault == "malformed"
                    else json.dumps(vllm_response(body["prompt"], fake_top(body["prompt"]))).encode()
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.stop()


def backend(url: str, **kw) -> OpenAIBackend:
    return OpenAIBackend("openai:" + url, WORDS, model_name="m", backoff=0.01, **{"retries": 2, **kw})


def test_both_response_layouts_parse_to_the_same_log_probs():
    top = {" True": -0.3, " False": -1.7}
    assert top_logprobs(vllm_response("p", top)) == top
    assert top_logprobs(llamacpp_response(top)) == top


def test_scores_are_label_log_odds_in_request_order_and_prompts_sent_sorted(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    b = backend(server.url, max_in_flight=1)
    prompts = [("b demo\n", "query z"), ("a demo\n", "query y"), ("a demo\n", "query x")]
    scores = b.logodds(prompts)
    for p, s in zip(prompts, scores):
        top = fake_top("".join(p))
        assert s == pytest.approx(top[" True"] - top[" False"])
    assert [r["prompt"] for r in server.requests] == sorted("".join(p) for p in prompts)
    first = server.requests[0]
    assert first["max_tokens"] == 1 and first["logprobs"] == 20 and first["model"] == "m"
    assert first["auth"] == "Bearer sk-test"
    assert b.requests == 3 and b.floored == 0


def test_a_label_word_missing_from_top_k_gets_the_documented_floor():
    b = OpenAIBackend("openai:http://unused/v1", WORDS)
    response = vllm_response("p", {" True": -0.5, " maybe": -2.0, " no": -4.0})
    b._post = lambda body: response  # type: ignore[method-assign]
    assert b.logodds([("p",)]) == [pytest.approx(-0.5 - -4.0)]
    assert b.floored == 1


def test_retries_429_and_5xx_with_backoff_then_succeeds(server):
    server.faults = [429, 503]
    b = backend(server.url)
    assert len(b.logodds([("x",)])) == 1 and len(server.requests) == 3


def test_slow_server_times_out_and_the_error_says_what_to_do(server):
    server.faults = ["slow"] * 5
    with pytest.raises(ServerUnavailableError, match="resume it when the server is back"):
        backend(server.url, timeout=0.2).logodds([("x",)])


def test_unreachable_server_and_malformed_json_and_no_completions_endpoint(server):
    with pytest.raises(ServerUnavailableError, match="unreachable"):
        backend("http://127.0.0.1:9").logodds([("x",)])
    server.faults = ["malformed"]
    with pytest.raises(ServerProtocolError, match="malformed JSON"):
        backend(server.url).logodds([("x",)])
    server.faults = [404]
    with pytest.raises(ServerProtocolError, match="completions endpoint"):
        backend(server.url).logodds([("x",)])


def test_a_run_pauses_when_its_server_dies_and_resumes_when_it_is_back(icm_home, server):
    task = TaskSpec(name="t", template="Text: {text}\nLabel:", label_words=WORDS, gold_field="label")
    rows = [{"text": f"item {i}", "label": i % 2} for i in range(10)]
    data = build_dataset(rows, task)
    store = Store()
    config = ScorerConfig(model="openai:" + server.url, model_name="m")
    run_id = store.create_run(data, task, SearchConfig(iterations=20), config, data_source="mem")

    def scorer(url: str) -> PromptScorer:
        return PromptScorer(data.examples, task, backend(url))

    runner = Runner(store, run_id, scorer(server.url))
    server.faults = [None] * 15 + [503] * 1000  # dies after 15 requests
    summary = runner.run()
    assert summary.status == "paused" and "unreachable" in store.run(run_id).message
    before = store.checkpoint(run_id)
    assert 0 <= before["iteration"] < 20
    assert {i: v["label"] for i, v in store.labels(run_id).items()} == {
        int(k): v for k, v in before["labels"].items()
    }

    server.faults = []  # back
    done = Runner(store, run_id, scorer(server.url)).run()
    events = store.events(run_id)
    search = [e["iteration"] for e in events if e["phase"] in ("init", "search")]
    assert done.status == "finished" and search == list(range(21)), "the search resumed where it paused"
    assert all(e["phase"] == "complete" for e in events[21:]) and done.iterations == len(events) - 1
    assert "sk-" not in json.dumps(store.run(run_id).scorer)
