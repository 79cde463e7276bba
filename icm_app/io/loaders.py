"""Load rows from CSV, JSON, JSONL, Parquet or a `datasets` folder, and turn them into examples.

Gold labels are split off here and returned separately: the search never receives them.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

from ..core.types import Dataset, Example
from ..errors import DataError  # raised here; the callers of the loaders catch it
from ..tasks.presets import TaskSpec
from ..tasks.template import TemplateError

FORMATS = ("csv", "json", "jsonl", "parquet")
DEFAULT_MAX_INPUT_MB = 1024  # override with $ICM_MAX_INPUT_MB; the app's upload limit is --max-upload-mb


def max_input_bytes() -> int:
    return int(float(os.environ.get("ICM_MAX_INPUT_MB") or DEFAULT_MAX_INPUT_MB) * 2**20)


def read_rows(path: str | Path, *, notes: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows of a data file as plain dicts; the format comes from the extension (or a `datasets` folder).

    Messages name the file, never the folder it sits in (an upload's server path is nobody's business).
    Problems that do not stop the read (a quoted CSV field running over several lines) go to `notes`.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        return _read_datasets_folder(path)
    name = path.name
    size = path.stat().st_size
    if size > max_input_bytes():
        raise DataError(
            f"{name}: {size / 2**20:.0f} MB is over the {max_input_bytes() / 2**20:.0f} MB input limit "
            "(set ICM_MAX_INPUT_MB to raise it)"
        )
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise DataError(f"{name}: unknown format {suffix!r}; use one of {', '.join(FORMATS)}")
    try:
        if suffix == "json":
            data = json.loads(path.read_text(encoding="utf-8-sig"))
            rows = data if isinstance(data, list) else data.get("data") if isinstance(data, dict) else None
            if not isinstance(rows, list):
                raise DataError(f"{name}: JSON must be a list of objects (or {{'data': [...]}})")
        elif suffix == "jsonl":
            rows = []
            for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise DataError(
                            f"{name}: malformed JSON at line {lineno}, column {exc.colno}: {exc.msg}"
                        ) from exc
        elif suffix == "csv":
            rows = _read_csv(path.read_text(encoding="utf-8-sig"), name, notes)
        else:
            import pandas as pd

            rows = pd.read_parquet(path).to_dict(orient="records")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{name}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    except DataError:
        raise
    except Exception as exc:  # pyarrow raises many types for malformed files; their text may hold the path
        detail = str(exc).replace(str(path), name).replace(str(path.parent), "")
        raise DataError(f"{name}: cannot read {suffix}: {detail}") from exc
    if not rows:
        raise DataError(f"{name}: no rows")
    if not all(isinstance(r, dict) for r in rows):
        raise DataError(f"{name}: every row must be an object with named fields")
    return rows


def save_upload(name: str, content: bytes, folder: Path) -> Path:
    """Keep an uploaded file as folder/<content hash>/<base name>: two uploads with one name never collide,
    and the name cannot climb out of `folder`."""
    import hashlib

    path = folder / hashlib.sha256(content).hexdigest()[:12] / (Path(name).name or "upload")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _read_csv(text: str, name: str, notes: list[str] | None) -> list[dict[str, str]]:
    """CSV rows as strings; a structural problem is reported with its line and column (1-based)."""
    import csv
    import io
    import sys

    csv.field_size_limit(sys.maxsize)
    if not text.strip():
        raise DataError(f"{name}: cannot read csv: the file is empty (a header line is needed)")
    lines = text.split("\n")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    end = 0  # the last line of the previous record
    while True:
        start = end + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if "end of data" in str(exc):
                column = _open_quote_column(lines[start - 1 :])
                raise DataError(f"{name}: line {start}, column {column}: a quote opens here and is never "
                                "closed (a quote inside a quoted field is written twice: \"\")") from exc  # fmt: skip
            raise DataError(f"{name}: line {reader.line_num}: malformed CSV ({exc})") from exc
        end = reader.line_num
        if not record:
            continue
        if header is None:
            header = record
            continue
        if len(record) > len(header):
            raise DataError(
                f"{name}: line {start}, column {len(header) + 1}: {len(record)} fields but the header has "
                f"{len(header)} columns (put a text that contains a comma in double quotes)"
            )
        if end > start and notes is not None:
            column = next((k for k, v in enumerate(record) if "\n" in v), 0) + 1
            notes.append(
                f"{name}: line {start}, column {column} ({header[column - 1]!r}): a quoted field runs until "
                f"line {end}, so lines {start}–{end} are read as one row. If its quote should close on "
                f"line {start}, fix the file."
            )
        rows.append(dict(zip(header, record + [""] * (len(header) - len(record)))))
    if header is None:
        raise DataError(f"{name}: cannot read csv: no header line")
    return rows


def _open_quote_column(lines: list[str]) -> int:
    """The 1-based column of the field whose opening quote is never closed, from the record's first line."""
    text, column, quoted, opened, at_field_start = "\n".join(lines), 1, False, 1, True
    k = 0
    while k < len(text):
        c = text[k]
        if quoted:
            if c == '"' and text[k + 1 : k + 2] == '"':
                k += 1
            elif c == '"':
                quoted = False
        elif c == '"' and at_field_start:
            quoted, opened = True, column
        elif c == ",":
            column += 1
        elif c == "\n":
            column = 1
        at_field_start = c in ",\n" and not quoted
        k += 1
    return opened


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
    if task.classes:  # multi-class: one claim row per class, gold turned into per-claim 1/0
        from ..tasks.multiclass import CLAIM_GOLD, expand_rows

        rows = expand_rows(rows, task, with_gold=use_gold)
    gold_column = CLAIM_GOLD if task.classes else task.gold_field
    columns = set().union(*(r.keys() for r in rows))
    needed = list(task.text_fields) + [f for f in (task.group_field, task.key_field) if f]
    missing = [f for f in needed if f not in columns]
    if missing:
        raise DataError(
            f"column {missing[0]!r} is not in the data (columns: {', '.join(sorted(map(str, columns)))})"
        )
    examples, gold = [], {}
    has_gold = use_gold and task.gold_field is not None and gold_column in columns
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
                gold[idx] = parse_gold(row.get(gold_column), task.label_words)
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
