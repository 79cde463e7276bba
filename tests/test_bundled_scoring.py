"""The prefix-caching scorer against the naive one on the real bundled model: same numbers, less work."""

from __future__ import annotations

import random

import pytest

from icm_app.cli import SAMPLES_DIR
from icm_app.core.config import SearchConfig
from icm_app.core.context import shuffled_order
from icm_app.core.objective import Objective
from icm_app.io.loaders import load_dataset
from icm_app.scoring.models import ScorerConfig, load_model
from icm_app.scoring.prompts import PromptScorer
from icm_app.scoring.transformers_backend import TransformersBackend
from icm_app.tasks.presets import get_preset

pytestmark = pytest.mark.model


def test_prefix_scores_equal_naive_scores_on_the_bundled_model():
    task = get_preset("sentiment")
    data = load_dataset(SAMPLES_DIR / "rt_polarity.jsonl", task, limit=10)
    model, tokenizer = load_model(ScorerConfig())
    backends = {
        m: TransformersBackend(model, tokenizer, task.label_words, mode=m) for m in ("prefix", "naive")
    }
    config = SearchConfig(calibrate=True)
    order = shuffled_order([e.idx for e in data.examples], 0)
    objectives = {
        m: Objective(
            data.examples, PromptScorer(data.examples, task, b), config, order=order, groups={}, rules=()
        )
        for m, b in backends.items()
    }
    rng = random.Random(0)
    labels = {i: rng.randint(0, 1) for i in rng.sample(range(10), 6)}
    sequence = [dict(labels)]
    for _ in range(3):  # flips and additions, as the search makes them
        i = rng.randrange(10)
        labels[i] = 1 - labels.get(i, rng.randint(0, 1))
        sequence.append(dict(labels))
    worst = 0.0
    for step in sequence:
        fast, slow = objectives["prefix"].evaluate(step), objectives["naive"].evaluate(step)
        worst = max(worst, abs(fast.U - slow.U), *(abs(fast.logodds[i] - slow.logodds[i]) for i in step))
    assert worst < 1e-3
    assert backends["prefix"].tokens_processed * 2 < backends["naive"].tokens_processed
