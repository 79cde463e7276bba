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


def test_batches_finetune_between_saves_an_adapter_the_next_batch_loads(tmp_path, icm_home):
    from conftest import FakeScorer, hashed_signal

    from icm_app.core.config import SearchConfig
    from icm_app.io.loaders import build_dataset
    from icm_app.scoring.models import ScorerConfig, load_model
    from icm_app.store.sqlite_store import Store
    from icm_app.tasks.presets import TaskSpec
    from icm_app.worker.batches import create_job, finetune_on_earlier_batches, load_job, run_job

    tok = tiny_tokenizer(WORDS)
    folder = tmp_path / "tiny"
    _llama(len(tok)).save_pretrained(folder)
    tok.save_pretrained(folder)
    task = TaskSpec(name="t", template="Q: {text}\nA:", label_words=WORDS)
    rows = [{"text": f"row {i}"} for i in range(12)]
    store = Store()
    job = create_job(store, build_dataset(rows, task), task, SearchConfig(iterations=4, k_init=4),
                     ScorerConfig(model=str(folder)), data_source="mem", batch_size=6, finetune_between=True)  # fmt: skip
    seen: list[str] = []

    def factory(examples, task, config):
        seen.append(config.adapter)
        return FakeScorer({e.idx: hashed_signal(12)[e.idx] for e in examples})

    run_job(
        store,
        job,
        rows,
        scorer_factory=factory,
        finetune=lambda job, j: finetune_on_earlier_batches(store, job, j),
    )
    done = load_job(store, job.id)
    assert seen[0] == "" and seen[1] == done.adapters[1] and (tmp_path / "icm_home").exists()
    model, _ = load_model(ScorerConfig(model=str(folder), adapter=done.adapters[1]))
    assert model is not None
