"""Write a run's labels out as JSONL, CSV or Parquet, with scores, pins and provenance on every row."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..store.sqlite_store import Store

EXPORT_FORMATS = ("jsonl", "csv", "parquet")


def export_rows(store: Store, run_id: str, *, labeled_only: bool = True) -> list[dict[str, Any]]:
    """One dict per example: original fields, label (0/1 and word), log-odds score, pinned, provenance."""
    info = store.run(run_id)
    labels = store.labels(info.id)
    words = info.task["label_words"]
    provenance = {
        "run_id": info.id,
        "model": info.model,
        "config": json.dumps({"task": info.task, "search": info.search, "scorer": info.scorer}),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    rows = []
    for ex in store.examples(info.id):
        lab = labels.get(ex["idx"])
        if labeled_only and lab is None:
            continue
        label = None if lab is None else lab["label"]
        rows.append(
            {
                "idx": ex["idx"], **ex["fields"],
                "label": label,
                "label_word": None if label is None else words[0 if label == 1 else 1].strip(),
                "score": None if lab is None else lab["score"],
                "pinned": bool(lab and lab["pinned"]),
                "flips": 0 if lab is None else lab["flips"],
                **provenance,
            }
        )  # fmt: skip
    return rows


def export_run(
    store: Store, run_id: str, out: str | Path, *, fmt: str | None = None, labeled_only: bool = True
) -> Path:
    """Write the export file; the format comes from `fmt` or the file extension."""
    out = Path(out)
    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; valid: {', '.join(EXPORT_FORMATS)}")
    rows = export_rows(store, run_id, labeled_only=labeled_only)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if fmt == "jsonl":
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        import pandas as pd

        frame = pd.DataFrame(rows)
        frame.to_csv(tmp, index=False) if fmt == "csv" else frame.to_parquet(tmp, index=False)
    tmp.replace(out)
    return out
