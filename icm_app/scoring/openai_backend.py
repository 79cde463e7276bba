"""OpenAI-compatible completions servers (vLLM, SGLang, llama.cpp, ...) as a scoring backend.

Each prompt is one `/completions` request with `max_tokens=1` and `logprobs=k`; the label words' log-probs
are read from the top-k of the next token. Prompts are sent in sorted order so that consecutive requests
share long prefixes and the server's prefix cache does the rest. Understands both response layouts: the
legacy `logprobs.top_logprobs` list of {token: logprob} dicts (vLLM, SGLang, OpenAI) and llama.cpp's
`logprobs.content[0].top_logprobs` list of {token, logprob} objects.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import ServerUnavailableError
from .prompts import Prompt

PREFIX = "openai:"
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class ServerProtocolError(ValueError):
    """The server answered, but not in a form we can use (no completions endpoint, malformed JSON, ...)."""


class OpenAIBackend:
    """Label log-odds from an OpenAI-compatible `/v1/completions` endpoint.

    A label word missing from the top-k gets the *floor*: the smallest log-prob the server returned, an
    upper bound on its true log-prob. Such scores are counted in `floored` (never silently 0); raise
    `top_logprobs` (vLLM: `--max-logprobs`) if it is not 0.
    """

    def __init__(
        self,
        base_url: str,
        label_words: tuple[str, str],
        *,
        model_name: str = "",
        api_key_env: str = "OPENAI_API_KEY",
        top_logprobs: int = 20,
        max_in_flight: int = 8,
        timeout: float = 60.0,
        retries: int = 4,
        backoff: float = 0.5,
        cache_prompt: bool = True,
    ) -> None:
        self.url = base_url.removeprefix(PREFIX).rstrip("/") + "/completions"
        self.words = label_words
        self.model_name = model_name
        self._api_key = os.environ.get(api_key_env, "") if api_key_env else ""  # read, never stored
        self.top_logprobs, self.max_in_flight = top_logprobs, max(1, max_in_flight)
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.cache_prompt = cache_prompt  # llama.cpp's per-request prefix reuse; other servers ignore it
        self.tokens_processed = 0  # prompt tokens the server computed (not served from its cache)
        self.cached_tokens = 0  # prompt tokens the server reported as reused from its prefix cache
        self.requests = 0
        self.floored = 0
        self.seconds = 0.0
        self._lock = threading.Lock()

    # -- public ------------------------------------------------------------------------------------
    def logodds(self, prompts: Sequence[Prompt]) -> list[float]:
        start = time.perf_counter()
        texts = ["".join(p) for p in prompts]
        order = sorted(range(len(texts)), key=texts.__getitem__)  # neighbours share prefixes
        with ThreadPoolExecutor(self.max_in_flight) as pool:
            scores = list(pool.map(lambda i: self._score(texts[i]), order))
        out = [0.0] * len(texts)
        for i, s in zip(order, scores):
            out[i] = s
        self.seconds += time.perf_counter() - start
        return out

    # -- one request -------------------------------------------------------------------------------
    def _score(self, text: str) -> float:
        body = {"prompt": text, "max_tokens": 1, "logprobs": self.top_logprobs, "temperature": 0.0,
                "cache_prompt": self.cache_prompt}  # fmt: skip
        if self.model_name:
            body["model"] = self.model_name
        response = self._post(body)
        top = top_logprobs(response)
        if not top:
            raise ServerProtocolError(f"{self.url} returned no top log-probs (logprobs={self.top_logprobs})")
        floor = min(top.values())
        values = []
        for word in self.words:
            if word in top:
                values.append(top[word])
            else:
                values.append(floor)
                with self._lock:
                    self.floored += 1
        self._count(response)
        return values[0] - values[1]

    def _count(self, response: dict[str, Any]) -> None:
        usage = response.get("usage") or {}
        timings = response.get("timings") or {}
        cached = (
            (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or timings.get("cache_n") or 0
        )
        prompt = usage.get("prompt_tokens") or 0
        with self._lock:
            self.requests += 1
            self.cached_tokens += int(cached)
            self.tokens_processed += max(0, int(prompt) - int(cached))

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as reply:
                    raw = reply.read()
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:300].decode(errors="replace")
                if exc.code in RETRY_STATUS:
                    last = f"HTTP {exc.code}: {detail}"
                    continue
                if exc.code in (404, 405) or "not supported" in detail.lower():
                    raise ServerProtocolError(
                        f"{self.url} answered HTTP {exc.code}: ICM needs a completions endpoint on a base "
                        f"model (chat-only models cannot score label words). Server said: {detail}"
                    ) from exc
                raise ServerProtocolError(f"{self.url} answered HTTP {exc.code}: {detail}") from exc
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
                continue
            try:
                return json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ServerProtocolError(f"{self.url} sent malformed JSON: {raw[:200]!r}") from exc
        raise ServerUnavailableError(
            f"server {self.url} unreachable after {self.retries + 1} tries ({last}); "
            "the run is paused with every label kept: resume it when the server is back"
        )


def top_logprobs(response: dict[str, Any]) -> dict[str, float]:
    """{token text: logprob} of the first generated token, from either response layout."""
    try:
        logprobs = response["choices"][0]["logprobs"]
        if logprobs.get("content"):  # llama.cpp: content[0].top_logprobs = [{token, logprob}, ...]
            return {e["token"]: float(e["logprob"]) for e in logprobs["content"][0]["top_logprobs"]}
        first = logprobs["top_logprobs"][0]  # vLLM / SGLang / OpenAI legacy: [{token: logprob}, ...]
        return {str(k): float(v) for k, v in first.items()}
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise ServerProtocolError(
            f"no top log-probs in the server's answer (is `logprobs` allowed?): {str(response)[:200]}"
        ) from exc
