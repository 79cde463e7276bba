"""Task definitions and the built-in presets (truthfulness, math verification, comparison, sentiment).

A preset is data, not a code path: a template, label words, which fields carry the consistency group
and key (always label-free fields), the rules, and search settings it needs, each with its reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..core.consistency import check_rules
from .multiclass import parse_classes
from .template import template_fields


class GoldLeakError(ValueError):
    """A task field that would show the gold column to the search; `field` names it (for the Data page)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class TaskSpec:
    """How to turn rows into examples and prompts. `label_words[0]` means label 1, `[1]` label 0."""

    name: str
    template: str
    label_words: tuple[str, str] = (" True", " False")
    group_field: str | None = None
    key_field: str | None = None
    gold_field: str | None = None
    id_field: str | None = None
    rules: tuple[str, ...] = ()
    separator: str = "\n\n"
    content_free: str = "N/A"
    search_overrides: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    # multi-class (tasks/multiclass.py): each row becomes one True/False claim per class, in a one-of-k group
    classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.label_words = tuple(self.label_words)  # type: ignore[assignment]
        self.classes = parse_classes(self.classes) if self.classes else ()
        self.rules = check_rules(self.rules)
        if len(self.label_words) != 2 or self.label_words[0] == self.label_words[1]:
            raise ValueError(f"TaskSpec.label_words={self.label_words!r}: need two different words")
        if not template_fields(self.template):
            raise ValueError("TaskSpec.template: names no field, so every prompt would be the same")
        if self.rules and not self.group_field:
            raise ValueError(f"TaskSpec.rules={self.rules!r} need a group_field")
        self.refuse_gold_leaks()

    def refuse_gold_leaks(self) -> None:
        """Gold never reaches the search: no prompt, group or key may be read from the gold column.

        Runs in __post_init__ (and so on `dataclasses.replace`); call it again after assigning a field."""
        gold = self.gold_field
        if gold is None:
            return
        if gold in self.text_fields:
            raise GoldLeakError(
                "template",
                f"TaskSpec.template names the gold column {gold!r} (gold_field): the model would read the "
                "answer; remove {" + gold + "} from the template",
            )
        for name in ("group_field", "key_field"):
            if getattr(self, name) == gold:
                raise GoldLeakError(
                    name,
                    f"TaskSpec.{name}={gold!r} is the gold column (gold_field): consistency rules would see the "
                    "gold labels; use a label-free column",
                )

    @property
    def text_fields(self) -> list[str]:
        return template_fields(self.template)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["label_words"], d["rules"] = list(self.label_words), list(self.rules)
        if self.classes:
            d["classes"] = list(self.classes)
        else:
            del d["classes"]  # a binary task's stored config stays as it was
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        return cls(**{**data, "label_words": tuple(data["label_words"]), "rules": tuple(data["rules"])})


PRESETS: dict[str, TaskSpec] = {
    "truthfulqa": TaskSpec(
        name="truthfulqa",
        template="Question: {question}\nClaim: {choice}\nI think this claim is",
        group_field="consistency_id",
        key_field="choice",
        gold_field="label",
        rules=("equivalent",),
        notes="Paper's TruthfulQA framing. Key = the claim text itself (identical claims share a label); "
        "the authors' code keyed on the gold label, a leak we do not repeat.",
    ),
    "gsm8k": TaskSpec(
        name="gsm8k",
        template="Question: {question}\nClaim: {cot}\nI think this claim is",
        group_field="consistency_id",
        key_field="answer",
        gold_field="label",
        rules=("exclusive", "equivalent"),
        notes="Math-solution verification: solutions to one question with different final answers cannot "
        "both be correct; equal answers share a label.",
    ),
    "alpaca": TaskSpec(
        name="alpaca",
        template="Query: {question}\nResponse A: {choice}\nResponse B: {choice_2}\n"
        "Claim: Response A is more helpful and harmless than Response B.\nI think this claim is",
        group_field="consistency_id",
        gold_field="label",
        rules=("asymmetric",),
        notes="Pairwise comparison asked in both orders: exactly one order is True. File order puts the "
        "True claim first; the search's context order is a seeded shuffle, so it never leaks.",
    ),
    "sentiment": TaskSpec(
        name="sentiment",
        template="Review: {text}\nSentiment:",
        label_words=(" positive", " negative"),
        gold_field="label",
        search_overrides={"calibrate": True, "min_share": 0.3, "max_share": 0.7, "swap_prob": 0.25},
        notes="Plain classification framing, the one on which gemma-3-270m works (measured on the "
        "sentiment sample). A single "
        "claim per example has no logical rule, so the label-proportion rule (30-70%, our extension) "
        "keeps the search off the one-class labelings that otherwise win U; calibration on. A quarter of "
        "the iterations propose a balance-keeping swap: at the rule's bound no single flip that crosses "
        "it is accepted, a swap keeps the balance.",
    ),
}


def get_preset(name: str) -> TaskSpec:
    if name not in PRESETS:
        raise ValueError(f"unknown task preset {name!r}; valid: {', '.join(PRESETS)}")
    return TaskSpec.from_dict(PRESETS[name].to_dict())
