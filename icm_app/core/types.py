"""The data model the search works on: examples, queries to the model, and the scorer interface; and the
dataset a run is created from.

Gold labels never reach the search: a Dataset keeps them apart from its examples, and the search is given
the examples only (it cannot see what it is not given).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Labels = dict[int, int]  # example idx -> 0 (second label word) or 1 (first label word)


@dataclass(frozen=True)
class Example:
    """One unlabeled input. `group`/`key` drive consistency rules and must come from label-free fields."""

    idx: int
    fields: Mapping[str, str] = field(hash=False)
    group: str | None = None
    key: str | None = None


@dataclass
class Dataset:
    """Examples for the search, the raw rows (for export), and gold labels kept apart (evaluation only).
    io/loaders.py builds one from a file; the store creates a run from one and reads one back."""

    examples: list[Example]
    rows: list[dict[str, Any]]
    gold: dict[int, int] | None


@dataclass(frozen=True)
class Query:
    """Ask the model for the label of `target` with `context` demonstrations before it, in that order.

    `content_free` asks about a content-free input instead (contextual calibration, DESIGN §4).
    """

    context: tuple[tuple[int, int], ...]  # (example idx, label) in prompt order
    target: int
    content_free: bool = False


class Scorer(Protocol):
    """Anything that turns queries into next-token label log-odds."""

    def score(self, queries: Sequence[Query]) -> list[float]:
        """Return log P(label word 1) - log P(label word 0) at the next token, one per query."""
        ...
