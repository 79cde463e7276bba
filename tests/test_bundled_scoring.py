"""The tree, batched-tree and prefix scorers against the naive one on the real bundled model: the same
log-odds within 1e-4 in float32, with less work. Gemma-3's 512-token sliding window is shorter than the
longest prompts here (18 reviews as context), so the per-layer-type masks are exercised too."""

from __future__ import annotations

import random

import pytest

from icm_app.core.config import SearchConfig
from icm_app.core.context import shuffled_order
from icm_app.core.objective import Objective
from icm_app.io.loaders import load_dataset
from icm_app.paths import SAMPLES_DIR
from icm_app.scoring.models import ScorerConfig, load_model
from icm_app.scoring.prompts import PromptScorer
from icm_app.scoring.transformers_backend import TransformersBackend
from icm_app.tasks.presets import get_preset

pytestmark = pytest.mark.model


FAST = {"prefix": {}, "tree": {"tree_tokens": 600}, "tree_batch": {"tree_tokens": 1200}}


def test_fast_scores_equal_naive_scores_on_the_bundled_model():
    task = get_preset("sentiment")
    data = load_dataset(SAMPLES_DIR / "rt_polarity.jsonl", task, limit=20)
    model, tokenizer = load_model(ScorerConfig())
    backends = {
        m: TransformersBackend(model, tokenizer, task.label_words, mode=m, **kw)
        for m, kw in {**FAST, "naive": {}}.items()
    }
    config = SearchConfig(calibrate=True)
    order = shuffled_order([e.idx for e in data.examples], 0)
    objectives = {
        m: Objective(PromptScorer(data.examples, task, b), config, order=order, groups={}, rules=())
        for m, b in backends.items()
    }
    rng = random.Random(0)
    labels = {i: rng.randint(0, 1) for i in rng.sample(range(20), 18)}
    sequence = [dict(labels)]
    for _ in range(1):  # a flip or an addition, as the search makes them
        i = rng.randrange(20)
        labels[i] = 1 - labels.get(i, rng.randint(0, 1))
        sequence.append(dict(labels))
    worst = {m: 0.0 for m in FAST}
    worst_u = {m: 0.0 for m in FAST}
    for step in sequence:
        slow = objectives["naive"].evaluate(step)
        for m in FAST:
            fast = objectives[m].evaluate(step)
            worst[m] = max(worst[m], *(abs(fast.logodds[i] - slow.logodds[i]) for i in step))
            worst_u[m] = max(worst_u[m], abs(fast.U - slow.U))
    print(f"max |log-odds - naive|: {worst}; max |U - naive|: {worst_u}")
    assert all(w < 1e-4 for w in worst.values()), worst
    assert all(w < 5e-3 for w in worst_u.values()), worst_u  # U = alpha (50) x a mean of log-odds
    longest = max(len(tokenizer.encode("".join(objectives["naive"].scorer.prompt(q)))) for q in
                  objectives["naive"].queries(sequence[-1], sorted(sequence[-1])))  # fmt: skip
    assert longest > model.config.sliding_window, "prompts must outgrow the sliding window"
    for m in FAST:
        assert backends[m].tokens_processed * 2 < backends["naive"].tokens_processed, m
    assert backends["tree"].forward_calls < backends["prefix"].forward_calls / 4
