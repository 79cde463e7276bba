"""LoRA fine-tuning of a local causal LM on (prompt -> label word) pairs, as the paper trains on ICM labels.

The adapter is saved beside the run; held-out accuracy is read zero-shot from the fine-tuned model.
CPU: fp32, small batches (minutes for the bundled 270M model on a few dozen examples); GPU: bf16, larger batches.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class FinetuneConfig:
    """LoRA settings; defaults sized for the bundled model on a CPU."""

    rank: int = field(default=8, metadata={"help": "LoRA rank r."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA scaling alpha."})
    dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lr: float = field(default=5e-4, metadata={"help": "AdamW learning rate."})
    epochs: int = field(default=3, metadata={"help": "Passes over the labeled examples."})
    batch_size: int = field(default=8, metadata={"help": "Examples per step (GPU: raise it)."})
    seed: int = field(default=0, metadata={"help": "Seed for LoRA init and example order."})
    target_modules: tuple[str, ...] = field(default=("q_proj", "k_proj", "v_proj", "o_proj"),
                                            metadata={"help": "Modules that get LoRA adapters."})  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def finetune(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    completions: Sequence[str],
    config: FinetuneConfig,
    *,
    progress: Callable[[int, int, float], None] = lambda step, total, loss: None,
) -> Any:
    """A LoRA-wrapped *copy* of `model` trained so that each prompt is followed by its completion's first token.

    The loss is the cross-entropy of that one token (the label word), so the model learns the labels, not the
    prompts. The original model is left untouched.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(config.seed)
    lora = LoraConfig(r=config.rank, lora_alpha=config.lora_alpha, lora_dropout=config.dropout,
                      target_modules=list(config.target_modules), task_type="CAUSAL_LM")  # fmt: skip
    peft_model = get_peft_model(copy.deepcopy(model), lora)
    device = next(model.parameters()).device
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    data = [(bos + tokenizer.encode(p, add_special_tokens=False), tokenizer.encode(c, add_special_tokens=False)[0])
            for p, c in zip(prompts, completions)]  # fmt: skip
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=config.lr)
    rng = random.Random(config.seed)
    total = config.epochs * math.ceil(len(data) / config.batch_size)
    step = 0
    peft_model.train()
    with torch.enable_grad():
        for _ in range(config.epochs):
            order = list(range(len(data)))
            rng.shuffle(order)
            for start in range(0, len(order), config.batch_size):
                batch = [data[i] for i in order[start : start + config.batch_size]]
                loss = _batch_loss(peft_model, batch, tokenizer, device)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
                progress(step, total, float(loss.detach()))
    return peft_model.eval()


def _batch_loss(model: Any, batch: list[tuple[list[int], int]], tokenizer: Any, device: Any) -> Any:
    """Right-padded batch; the loss reads each prompt's last position, the only one projected onto the
    vocabulary (`logits_to_keep`: the bundled model's 262k-word head costs more than its layers)."""
    import torch

    width = max(len(ids) for ids, _ in batch)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([x + [pad] * (width - len(x)) for x, _ in batch], device=device)
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x, _ in batch], device=device)
    last = torch.tensor([[len(x) - 1] for x, _ in batch], device=device)
    logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=last).logits
    picked = logits.reshape(len(batch), -1, logits.shape[-1])[:, -1].float()
    return torch.nn.functional.cross_entropy(picked, torch.tensor([y for _, y in batch], device=device))


def save_adapter(peft_model: Any, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(folder)
    return folder


def load_adapter(model: Any, folder: Path) -> Any:
    """The base `model` (copied) with a saved adapter merged in, ready for any backend."""
    from peft import PeftModel

    return PeftModel.from_pretrained(copy.deepcopy(model), folder).merge_and_unload().eval()


def merged(peft_model: Any) -> Any:
    """A plain model with the LoRA weights folded in (a copy; the adapter model stays usable)."""
    return copy.deepcopy(peft_model).merge_and_unload().eval()
