"""Shared fixtures: an isolated data folder per test, and fake scorers for the search logic."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, settings

from icm_app.core.types import Example, Query

# Hypothesis profiles: derandomized in CI (CI=true), so a CI run is reproducible; randomized locally, where a
# failing property is a bug in the property or the code, never noise. `fresh` is `dev` without the example
# database (each run starts cold: how the 20-runs-in-a-row check is done). Choose with HYPOTHESIS_PROFILE.
_COMMON = {"max_examples": 50, "deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **_COMMON)
# Explicit derandomize=False: Hypothesis itself loads a derandomized built-in profile when it detects CI.
settings.register_profile("dev", derandomize=False, **_COMMON)
settings.register_profile("fresh", derandomize=False, database=None, print_blob=True, **_COMMON)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev")
)


@pytest.fixture(autouse=True)
def icm_home(tmp_path, monkeypatch):
    """Every test gets its own runs folder; converted models stay shared (ICM_MODEL_CACHE)."""
    home = tmp_path / "icm_home"
    monkeypatch.setenv("ICM_HOME", str(home))
    return home


class FakeScorer:
    """Deterministic stand-in for a model: a per-example signal plus agreement with the context.

    log-odds(target) = signal[target] + coupling * (mean context label in {-1, +1}); content-free
    queries see only the context term. Enough structure for the search to have a real optimum.
    """

    def __init__(self, signal: dict[int, float], coupling: float = 0.3) -> None:
        self.signal, self.coupling = signal, coupling
        self.calls: list[Query] = []

    def score(self, queries: Sequence[Query]) -> list[float]:
        self.calls.extend(queries)
        out = []
        for q in queries:
            ctx = [1 if y == 1 else -1 for _, y in q.context]
            bias = self.coupling * (sum(ctx) / len(ctx) if ctx else 0.0)
            out.append(bias + (0.0 if q.content_free else self.signal[q.target]))
        return out


def hashed_signal(n: int, seed: int = 0) -> dict[int, float]:
    """Reproducible pseudo-random signals in [-2, 2]."""
    return {
        i: int(hashlib.sha256(f"{seed}-{i}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF * 4 - 2
        for i in range(n)
    }


def make_examples(n: int, group_size: int = 0, keyed: bool = True) -> list[Example]:
    """n examples; with group_size, consecutive examples share a group and keys cycle a/b/c."""
    out = []
    for i in range(n):
        group = str(i // group_size) if group_size else None
        key = "abc"[i % 3] if group_size and keyed else None
        out.append(Example(i, {"text": f"example {i}"}, group, key))
    return out


def tiny_tokenizer(words: tuple[str, str]):
    """A per-character tokenizer with the two label words as single tokens: no downloads."""
    import string

    from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<bos>": 1, "<pad>": 2}
    for c in sorted(set(string.printable) - set("\x0b\x0c\r")):
        vocab.setdefault(c, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # one token per char
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", unk_token="<unk>", pad_token="<pad>"
    )
    fast.add_tokens([AddedToken(w, normalized=False) for w in words])
    for w in words:
        assert len(fast.encode(w, add_special_tokens=False)) == 1
    return fast


@pytest.fixture(scope="session")
def bundled_runs(tmp_path_factory):
    """Two finished real-model runs of the bundled sentiment sample, built once per session (10 examples,
    8 iterations, seeds 0 and 1, two restart chains each; about 5 minutes on 2 CPU cores, 12 and 10 took 10): the audit, compare, replay and "how ICM decides" tests read
    copies of them (`copy_bundled_runs`). Returns (folder holding runs.sqlite, [run id of seed 0, seed 1])."""
    import re
    import subprocess
    import sys

    home = tmp_path_factory.mktemp("bundled_runs")
    ids = []
    for seed in (0, 1):
        args = ["run", "--sample", "sentiment", "--limit", "10", "--iterations", "8", "--restarts", "2"]
        done = subprocess.run(
            [sys.executable, "-m", "icm_app.cli", *args, "--seed", str(seed), "--name", f"bundled seed {seed}"],
            capture_output=True, text=True, env={**os.environ, "ICM_HOME": str(home)}, timeout=1800,
        )  # fmt: skip
        match = re.search(r"run (\S+) finished", done.stdout)
        assert match, done.stdout + done.stderr
        ids.append(match.group(1))
    return home, ids


@pytest.fixture
def copy_bundled_runs(bundled_runs, icm_home):
    """The session's real-model runs copied into this test's own ICM_HOME (tests may change them)."""
    import shutil

    from icm_app.store.sqlite_store import Store

    source, ids = bundled_runs
    Store(source / "runs.sqlite").db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    icm_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / "runs.sqlite", icm_home / "runs.sqlite")
    return ids
