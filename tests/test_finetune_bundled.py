"""LoRA on the real bundled model for a few steps: saves, reloads, and predicts the same."""

from __future__ import annotations

import pytest

from icm_app.evaluation.finetune import FinetuneConfig, finetune, load_adapter, merged, save_adapter
from icm_app.scoring.models import ScorerConfig, load_model
from icm_app.scoring.transformers_backend import TransformersBackend

pytestmark = pytest.mark.model
WORDS = (" positive", " negative")


def test_bundled_model_lora_few_steps_save_reload_same_predictions(tmp_path):
    model, tok = load_model(ScorerConfig())
    prompts = [f"Review: {t}\nSentiment:" for t in ("a joy", "a mess", "wonderful", "tedious")]
    words = [WORDS[0], WORDS[1], WORDS[0], WORDS[1]]
    losses: list[float] = []
    tuned = finetune(model, tok, prompts, words, FinetuneConfig(epochs=1, batch_size=2),
                     progress=lambda s, t, loss: losses.append(loss))  # fmt: skip
    assert len(losses) == 2
    folder = save_adapter(tuned, tmp_path / "adapter")
    segs = [(p,) for p in prompts]
    a = TransformersBackend(merged(tuned), tok, WORDS, mode="naive").logodds(segs)
    b = TransformersBackend(load_adapter(model, folder), tok, WORDS, mode="naive").logodds(segs)
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-4
