"""Load rows from CSV, JSON, JSONL, Parquet or a `datasets` folder, and turn them into examples.

Gold labels are split off here and returned separately: the search never receives them.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.types import Example
from ..tasks.presets import TaskSpec
from ..tasks.template import TemplateError

FORMATS = ("csv", "json", "jsonl", "parquet")
DEFAULT_MAX_INPUT_MB = 1024  # override with $ICM_MAX_INPUT_MB; the app's upload limit is --max-upload-mb


def max_input_bytes() -> int:
    return int(float(os.environ.get("ICM_MAX_INPUT_MB") or DEFAULT_MAX_INPUT_MB) * 2**20)


class DataError(ValueError):
    """A data file that cannot be used, with a message that says why."""


@dataclass
class Dataset:
    """Examples for the search, the raw rows (for export), and gold labels kept apart (evaluation only)."""

    examples: list[Example]
    rows: list[dict[str, Any]]
    gold: dict[int, int] | None


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a data file as plain dicts; the format comes from the extension (or a `datasets` folder)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        return _read_datasets_folder(path)
    size = path.stat().st_size
    if size > max_input_bytes():
        raise DataError(
            f"{path}: {size / 2**20:.0f} MB is over the {max_input_bytes() / 2**20:.0f} MB input limit "
            "(set ICM_MAX_INPUT_MB to raise it)"
        )
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise DataError(f"{path}: unknown format {suffix!r}; use one of {', '.join(FORMATS)}")
    try:
        if suffix == "json":
            data = json.loads(path.read_text(encoding="utf-8-sig"))
            rows = data if isinstance(data, list) else data.get("data") if isinstance(data, dict) else None
            if not isinstance(rows, list):
                raise DataError(f"{path}: JSON must be a list of objects (or {{'data': [...]}})")
        elif suffix == "jsonl":
            rows = []
            for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise DataError(f"{path}: malformed JSON at line {lineno}: {exc.msg}") from exc
        else:
            import pandas as pd

            frame = (
                pd.read_csv(path, dtype=str, keep_default_na=False)
                if suffix == "csv"
                else pd.read_parquet(path)
            )
            rows = frame.to_dict(orient="records")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from exc
    except DataError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for malformed files
        raise DataError(f"{path}: cannot read {suffix}: {exc}") from exc
    if not rows:
        raise DataError(f"{path}: no rows")
    if not all(isinstance(r, dict) for r in rows):
        raise DataError(f"{path}: every row must be an object with named fields")
    return rows


def _read_datasets_folder(path: Path) -> list[dict[str, Any]]:
    try:
        from datasets import load_from_disk
    except ImportError as exc:
        raise DataError(f"{path}: reading a `datasets` folder needs `pip install datasets`") from exc
    data = load_from_disk(str(path))
    if hasattr(data, "keys"):  # a DatasetDict: take its first split
        data = data[next(iter(data.keys()))]
    return [dict(r) for r in data]


def parse_gold(value: Any, label_words: tuple[str, str]) -> int:
    """1/0 from bools, 0/1 numbers and strings (true/false, yes/no, or the task's label words)."""
    if type(value).__module__ == "numpy":
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        if value in (0, 1):
            return int(value)
    if isinstance(value, str):
        text = value.strip().lower()
        ones = {"1", "true", "yes", label_words[0].strip().lower()}
        zeros = {"0", "false", "no", label_words[1].strip().lower()}
        if text in ones:
            return 1
        if text in zeros:
            return 0
    raise DataError(f"gold label {value!r} is not binary (use 0/1, true/false or the label words)")


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def build_dataset(rows: list[dict[str, Any]], task: TaskSpec, *, use_gold: bool = True) -> Dataset:
    """Examples from rows under `task`: checks fields exist, texts are present, gold is binary."""
    if not rows:
        raise DataError("the dataset has no rows")
    columns = set().union(*(r.keys() for r in rows))
    needed = list(task.text_fields) + [f for f in (task.group_field, task.key_field) if f]
    missing = [f for f in needed if f not in columns]
    if missing:
        raise DataError(
            f"column {missing[0]!r} is not in the data (columns: {', '.join(sorted(map(str, columns)))})"
        )
    examples, gold = [], {}
    has_gold = use_gold and task.gold_field is not None and task.gold_field in columns
    seen_ids: set[str] = set()
    for idx, row in enumerate(rows):
        fields = {}
        for f in task.text_fields:
            text = _text(row.get(f))
            if text is None or not text.strip():
                raise DataError(f"row {idx}: field {f!r} is missing or empty")
            fields[f] = text
        if task.id_field:
            rid = _text(row.get(task.id_field))
            if rid in seen_ids:
                raise DataError(f"row {idx}: duplicate id {rid!r} in column {task.id_field!r}")
            seen_ids.add(rid)  # type: ignore[arg-type]
        group = _text(row.get(task.group_field)) if task.group_field else None
        key = _text(row.get(task.key_field)) if task.key_field else None
        examples.append(Example(idx=idx, fields=fields, group=group, key=key))
        if has_gold:
            try:
                gold[idx] = parse_gold(row.get(task.gold_field), task.label_words)
            except DataError as exc:
                raise DataError(f"row {idx}: {exc}") from exc
    try:
        from ..tasks.template import render

        render(task.template, examples[0].fields)
    except TemplateError as exc:
        raise DataError(str(exc)) from exc
    _check_structure(examples, task)
    return Dataset(examples=examples, rows=rows, gold=gold if has_gold else None)


def _check_structure(examples: list[Example], task: TaskSpec) -> None:
    """Mutual predictability needs others to predict from; pair rules need their pairs."""
    if len(examples) < 2:
        raise DataError(
            f"ICM needs at least 2 examples (each is predicted from the others); got {len(examples)}"
        )
    sizes = Counter(e.group for e in examples if e.group is not None)
    if "asymmetric" in task.rules:
        odd = [g for g, n in sizes.items() if n != 2]
        if odd:
            raise DataError(
                f"group {odd[0]!r} in column {task.group_field!r} has {sizes[odd[0]]} member(s); "
                "the asymmetric rule needs each comparison with its reverse (exactly 2)"
            )
    if "one_of_k" in task.rules:
        single = [g for g, n in sizes.items() if n == 1]
        if single:
            raise DataError(
                f"group {single[0]!r} in column {task.group_field!r} has one member; one_of_k needs k >= 2"
            )


def load_dataset(path: str | Path, task: TaskSpec, *, limit: int | None = None) -> Dataset:
    rows = read_rows(path)
    if limit is not None:
        rows = rows[:limit]
    return build_dataset(rows, task)
