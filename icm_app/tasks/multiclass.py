"""Multi-class tasks as ICM claims: one True/False claim per class per row, the claims of a row in one
one-of-k group (exactly one class is True), and the labels turned back into one class per row.

ICM labels binary claims; a k-class row becomes k claims "<text> … The <noun> is <class>." judged True or
False, in the app's claim style (I think this claim is True/False). The rule `one_of_k` counts two True
claims of a row, and a row whose claims are all False, as violations, so the search is pushed to exactly
one class per row without being told which. A gold class column becomes per-claim 1/0 gold, used for
evaluation only (the search never sees it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import DataError

if TYPE_CHECKING:
    from .presets import TaskSpec

CLASS_FIELD = "icm_class"  # the class a claim asserts (a template field)
ROW_FIELD = "icm_row"  # the original row's number: the claims' one-of-k group
CLAIM_GOLD = "icm_gold"  # per-claim 1/0 gold derived from the gold class column
MULTICLASS_FIELDS = (CLASS_FIELD, ROW_FIELD, CLAIM_GOLD)


class ClassError(ValueError):
    """Class names or a gold class that cannot be used, with the reason."""


def parse_classes(value: str | Iterable[str]) -> tuple[str, ...]:
    """Class names from "a, b, c" or a list: stripped, blanks dropped; refuses fewer than two and duplicates
    (case-insensitive: "Positive" and "positive" would be two claims saying the same)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    classes = tuple(str(c).strip() for c in items if str(c).strip())
    if len(classes) < 2:
        raise ClassError(
            f"a multi-class task needs at least two class names; got {len(classes)}"
            + (f" ({classes[0]!r})" if classes else "")
        )
    seen: dict[str, str] = {}
    for c in classes:
        if c.lower() in seen:
            raise ClassError(f"class {c!r} is given twice (as {seen[c.lower()]!r} and {c!r})")
        seen[c.lower()] = c
    return classes


def class_template(text_field: str, gold_field: str | None = None) -> str:
    """The default claim template: the text, then "The <noun> is {icm_class}." (the noun is the gold column's
    name when there is one, e.g. "sentiment"; else "class"), in the presets' "I think this claim is" style."""
    noun = (gold_field or "class").replace("_", " ").strip() or "class"
    title = text_field.replace("_", " ").strip().capitalize()
    return f"{title}: {{{text_field}}}\nClaim: The {noun} is {{{CLASS_FIELD}}}.\nI think this claim is"


def multiclass_task(
    text_field: str,
    classes: str | Iterable[str],
    *,
    gold_field: str | None = None,
    template: str | None = None,
    name: str = "multiclass",
) -> TaskSpec:
    """A TaskSpec whose examples are claims: True/False label words, rows as one-of-k groups.

    `template` must name {icm_class}; the default is class_template(text_field, gold_field)."""
    from .presets import TaskSpec

    if not text_field:
        raise ClassError("a multi-class task needs the column holding the text")
    if gold_field and text_field == gold_field:
        raise ClassError(
            f"the text column {text_field!r} is the gold class column: the model would read the answer"
        )
    template = template or class_template(text_field, gold_field)
    if "{" + CLASS_FIELD + "}" not in template:
        raise ClassError(f"a multi-class template must name {{{CLASS_FIELD}}}, the class each claim asserts")
    return TaskSpec(name=name, template=template, label_words=(" True", " False"), group_field=ROW_FIELD,
                    gold_field=gold_field, rules=("one_of_k",), classes=parse_classes(classes),
                    notes=f"Multi-class: one claim per class ({', '.join(parse_classes(classes))}) per row; the "
                    "claims of a row form a one-of-k group, so exactly one of them should be True.")  # fmt: skip


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def gold_class(value: Any, classes: Sequence[str]) -> str:
    """Which class a gold value names: the class itself (any case), or, with two classes, 1/true for the
    first and 0/false for the second (the label-word convention: the first word means 1)."""
    if type(value).__module__ == "numpy":
        value = value.item()
    text = str(value).strip().lower()
    for c in classes:
        if c.lower() == text:
            return c
    if len(classes) == 2 and text in ("1", "true", "1.0"):
        return classes[0]
    if len(classes) == 2 and text in ("0", "false", "0.0"):
        return classes[1]
    raise ClassError(f"gold value {value!r} is not one of the classes ({', '.join(classes)})")


def expand_rows(
    rows: Sequence[dict[str, Any]], task: TaskSpec, *, with_gold: bool = True
) -> list[dict[str, Any]]:
    """One claim row per (row, class), in row order then class order: the row's columns plus icm_class,
    icm_row and (when the gold column is present) icm_gold = 1 for the gold class's claim, else 0."""

    clash = [f for f in MULTICLASS_FIELDS if any(f in r for r in rows)]
    if clash:
        raise DataError(f"column {clash[0]!r} is reserved for multi-class claims; rename it")
    present = with_gold and task.gold_field and any(task.gold_field in r for r in rows)
    gold = task.gold_field if present else None
    out = []
    for i, row in enumerate(rows):
        truth = None
        if gold is not None:
            if _missing(row.get(gold)):
                raise DataError(f"row {i}: gold class column {gold!r} is empty")
            try:
                truth = gold_class(row.get(gold), task.classes)
            except ClassError as exc:
                raise DataError(f"row {i}: {exc}") from exc
        for c in task.classes:
            claim = {**row, CLASS_FIELD: c, ROW_FIELD: str(i)}
            if truth is not None:
                claim[CLAIM_GOLD] = int(c == truth)
            out.append(claim)
    return out


def original_row(claim_row: dict[str, Any]) -> dict[str, Any]:
    """The file's row a claim was made from (its columns without the claim's own)."""
    return {k: v for k, v in claim_row.items() if k not in MULTICLASS_FIELDS}


def classes_per_row(
    claims: Sequence[dict[str, Any]], labels: dict[int, int | None], classes: Sequence[str]
) -> list[dict[str, Any]]:
    """One entry per original row from its claims (store examples: idx, fields, row): `class` is the class
    whose claim is labeled 1 when exactly one is; otherwise `class` is None and `ambiguous` says why (none
    or several True). A row none of whose claims is labeled yet is unlabeled, not ambiguous."""
    by_row: dict[int, list[dict[str, Any]]] = {}
    for claim in claims:
        by_row.setdefault(int(claim["row"][ROW_FIELD]), []).append(claim)
    out = []
    for row_number in sorted(by_row):
        members = by_row[row_number]
        got = {m["fields"][CLASS_FIELD]: labels.get(m["idx"]) for m in members}
        true = [c for c in classes if got.get(c) == 1]
        n_labeled = sum(v is not None for v in got.values())
        if len(true) == 1:
            status = ""
        elif len(true) > 1:
            status = f"several classes labeled True: {', '.join(true)}"
        elif n_labeled == 0:
            status = "unlabeled"
        else:
            status = f"no class labeled True ({n_labeled} of {len(members)} claims labeled)"
        out.append({
            "row": row_number, "claims": [m["idx"] for m in members], "class": true[0] if len(true) == 1 else None,
            "ambiguous": len(true) != 1 and n_labeled > 0, "status": status or "one class", "true_classes": true,
            "labeled_claims": n_labeled, "source": original_row(members[0]["row"]),
            "fields": {k: v for k, v in members[0]["fields"].items() if k != CLASS_FIELD},
        })  # fmt: skip
    return out
