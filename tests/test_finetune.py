"""LoRA fine-tuning on labels: trains, saves, reloads to the same predictions (tiny model, no downloads)."""

from __future__ import annotations

import torch
from conftest import tiny_tokenizer
from test_transformers_backend import _llama

from icm_app.evaluation.finetune import FinetuneConfig, finetune, load_adapter, merged, save_adapter
from icm_app.scoring.transformers_backend import TransformersBackend

WORDS = (" True", " False")


def test_lora_learns_the_labels_and_the_saved_adapter_reloads_identically(tmp_path):
    tok = tiny_tokenizer(WORDS)
    base = _llama(len(tok))
    before = {k: v.clone() for k, v in base.state_dict().items()}
    prompts = [f"Q: item {i}\nA:" for i in range(8)]
    words = [WORDS[i % 2] for i in range(8)]
    losses: list[float] = []
    config = FinetuneConfig(
        rank=4, lora_alpha=8, lr=5e-3, epochs=15, batch_size=4, target_modules=("q_proj", "v_proj")
    )
    tuned = finetune(base, tok, prompts, words, config, progress=lambda s, t, loss: losses.append(loss))
    assert len(losses) == 30 and losses[-1] < losses[0] * 0.5
    assert all(torch.equal(v, base.state_dict()[k]) for k, v in before.items()), "the base model is untouched"

    folder = save_adapter(tuned, tmp_path / "adapter")
    assert (folder / "adapter_config.json").exists()
    prompt_segments = [(p,) for p in prompts]
    fresh = TransformersBackend(merged(tuned), tok, WORDS, mode="naive").logodds(prompt_segments)
    reloaded = TransformersBackend(load_adapter(base, folder), tok, WORDS, mode="naive").logodds(
        prompt_segments
    )
    assert max(abs(a - b) for a, b in zip(fresh, reloaded)) < 1e-5
    assert sum((lo > 0) == (w == " True") for lo, w in zip(fresh, words)) >= 7, "it learned the labels"
