"""Language-model scorers behind one interface: label log-odds for a context of demonstrations + a query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.types import Example
from ..tasks.presets import TaskSpec
from .bundled import Report, quiet
from .models import ScorerConfig, load_model, resolve_scoring
from .prompts import PromptScorer


def build_scorer(
    examples: Sequence[Example],
    task: TaskSpec,
    config: ScorerConfig,
    *,
    loaded: tuple[Any, Any] | None = None,
    report: Report = quiet,
) -> PromptScorer:
    """A core `Scorer` for these examples under this task, backed by the configured model or server;
    `report` hears what loading the model does (a one-time conversion of the bundled model included)."""
    if config.model.startswith("openai:"):
        from .openai_backend import OpenAIBackend

        server = OpenAIBackend(
            config.model, task.label_words, model_name=config.model_name, api_key_env=config.api_key_env,
            top_logprobs=config.top_logprobs, max_in_flight=config.max_in_flight,
        )  # fmt: skip
        return PromptScorer(examples, task, server)
    from .transformers_backend import TransformersBackend

    model, tokenizer = loaded or load_model(config, report=report)
    mode = resolve_scoring(config.scoring, model)
    backend = TransformersBackend(model, tokenizer, task.label_words, mode=mode, cache_mb=config.cache_mb,
                                  tree_tokens=config.tree_tokens)  # fmt: skip
    return PromptScorer(examples, task, backend)
