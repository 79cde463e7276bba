"""Turns core `Query` objects into prompt segments and hands them to a model backend.

A prompt is a tuple of text segments: one per demonstration (example + its label word + separator),
then the query. Backends tokenize segment by segment, so every backend sees identical token ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..core.types import Example, Query
from ..tasks.presets import TaskSpec
from ..tasks.template import render

Prompt = tuple[str, ...]  # demonstration segments..., query segment


class Backend(Protocol):
    """A model that returns log P(word 1) - log P(word 0) at the token after each prompt."""

    tokens_processed: int

    def logodds(self, prompts: Sequence[Prompt]) -> list[float]: ...


class PromptScorer:
    """The core's `Scorer`: renders queries with the task's template and label words, asks the backend."""

    def __init__(self, examples: Sequence[Example], task: TaskSpec, backend: Backend) -> None:
        self.task, self.backend = task, backend
        self._query_text = {e.idx: render(task.template, e.fields) for e in examples}
        words = task.label_words
        self._demo_text = {
            (idx, y): text + words[0 if y == 1 else 1] + task.separator
            for idx, text in self._query_text.items()
            for y in (0, 1)
        }
        self._content_free = render(task.template, {f: task.content_free for f in task.text_fields})

    def prompt(self, query: Query) -> Prompt:
        demos = tuple(self._demo_text[d] for d in query.context)
        last = self._content_free if query.content_free else self._query_text[query.target]
        return (*demos, last)

    def score(self, queries: Sequence[Query]) -> list[float]:
        return self.backend.logodds([self.prompt(q) for q in queries])

    def render_full(self, query: Query) -> str:
        """The prompt as one string, for previews."""
        return "".join(self.prompt(query))
