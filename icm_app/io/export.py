"""Write a run's labels out as JSONL, CSV or Parquet, with scores, pins and provenance on every row."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..store.sqlite_store import RunInfo, Store

EXPORT_FORMATS = ("jsonl", "csv", "parquet", "datasets", "finetune")
OBJECTIVE_TERMS = ("U", "alpha", "P", "rule_violations", "proportion_weight", "proportion_excess")
OBJECTIVE_FORMULA = "U = alpha * P - rule_violations - proportion_weight * proportion_excess"


def objective_terms(store: Store, run_id: str) -> dict[str, Any]:
    """The run's last U with its named terms (as in the events and docs/algorithm.md), or {} before any iteration."""
    events = store.events(run_id)
    if not events:
        return {}
    last = events[-1]
    return {"formula": OBJECTIVE_FORMULA, "iteration": last["iteration"],
            **{t: last.get(t) for t in OBJECTIVE_TERMS}}  # fmt: skip


def export_rows(
    store: Store, run_id: str, *, labeled_only: bool = True, pinned_only: bool = False
) -> list[dict[str, Any]]:
    """One dict per example: original fields, label (0/1 and word), the model's log-odds two ways, pinned,
    provenance. `logodds_label1`: log P(label 1) - log P(label 0) as the run scored it (positive: the model
    leans to label 1, whatever the label); `confidence`: the same toward the row's own label (the app's
    confidence; negative: the model leans against the label it was given).

    A multi-class run gives one dict per original row instead (class_rows)."""
    info = store.run(run_id)
    if info.task.get("classes"):
        return class_rows(store, run_id, labeled_only=labeled_only, pinned_only=pinned_only)
    labels = store.labels(info.id)
    words = info.task["label_words"]
    provenance = _provenance(store, info)
    rows = []
    for ex in store.examples(info.id):
        lab = labels.get(ex["idx"])
        if (labeled_only and lab is None) or (pinned_only and not (lab and lab["pinned"])):
            continue
        label = None if lab is None else lab["label"]
        rows.append(
            {
                "idx": ex["idx"], **ex["fields"],
                "label": label,
                "label_word": None if label is None else words[0 if label == 1 else 1].strip(),
                "logodds_label1": None if lab is None else lab["score"],
                "confidence": None if lab is None or lab["score"] is None else lab["score"] * (1 if label == 1 else -1),
                "pinned": bool(lab and lab["pinned"]),
                "flips": 0 if lab is None else lab["flips"],
                **provenance,
            }
        )  # fmt: skip
    return rows


def _provenance(store: Store, info: RunInfo) -> dict[str, Any]:
    return {
        "run_id": info.id,
        "model": info.model,
        "config": json.dumps({"task": info.task, "search": info.search, "scorer": info.scorer}),
        "objective": json.dumps(objective_terms(store, info.id)),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def class_rows(
    store: Store, run_id: str, *, labeled_only: bool = True, pinned_only: bool = False
) -> list[dict[str, Any]]:
    """A multi-class run's labels as one dict per original row: the text, `class` (the class whose claim
    is labeled True, when exactly one is), `ambiguous` and `status` (none or several True: flagged, never
    guessed), each class's log-odds for True, pinned (any claim), flips, the claims' idx and provenance."""
    from ..tasks.multiclass import classes_per_row

    info = store.run(run_id)
    classes = info.task["classes"]
    stored = store.labels(info.id)
    labels = {i: v["label"] for i, v in stored.items()}
    claims = store.examples(info.id)
    by_idx = {c["idx"]: c for c in claims}
    provenance = _provenance(store, info)
    rows = []
    for entry in classes_per_row(claims, labels, classes):
        members = [stored.get(i, {}) for i in entry["claims"]]
        pinned = any(m.get("pinned") for m in members)
        if (labeled_only and entry["labeled_claims"] == 0) or (pinned_only and not pinned):
            continue
        by_class = {by_idx[i]["fields"]["icm_class"]: stored.get(i, {}).get("score") for i in entry["claims"]}
        rows.append(
            {
                "row": entry["row"], **entry["fields"],
                "class": entry["class"], "ambiguous": entry["ambiguous"], "status": entry["status"],
                "true_classes": ", ".join(entry["true_classes"]),
                "class_scores": json.dumps(by_class),
                "pinned": pinned, "flips": sum(m.get("flips") or 0 for m in members),
                "claims": json.dumps(entry["claims"]),
                **provenance,
            }
        )  # fmt: skip
    return rows


def finetune_rows(store: Store, run_id: str, *, pinned_only: bool = False) -> list[dict[str, str]]:
    """Prompt/completion pairs for the labeled examples (the pinned ones only with `pinned_only`)."""
    from ..tasks.template import render

    info = store.run(run_id)
    words = info.task["label_words"]
    labels = {i: v for i, v in store.labels(info.id).items() if v["label"] is not None}
    return [
        {"prompt": render(info.task["template"], ex["fields"]),
         "completion": words[0 if labels[ex["idx"]]["label"] == 1 else 1]}
        for ex in store.examples(info.id)
        if ex["idx"] in labels and (labels[ex["idx"]]["pinned"] or not pinned_only)
    ]  # fmt: skip


def export_file_name(run_id: str, fmt: str) -> str:
    """The default file name for a format: its own extension (no extension for a `datasets` folder)."""
    return {"finetune": f"icm-{run_id}-finetune.jsonl", "datasets": f"icm-{run_id}"}.get(
        fmt, f"icm-{run_id}.{fmt}"
    )


def export_bytes(
    store: Store, run_id: str, fmt: str, *, labeled_only: bool = True, pinned_only: bool = False
) -> bytes:
    """The export as bytes (for a download button); `datasets` folders are written with export_run only."""
    import io

    if fmt == "finetune":
        return "".join(
            json.dumps(r, ensure_ascii=False) + "\n"
            for r in finetune_rows(store, run_id, pinned_only=pinned_only)
        ).encode()
    rows = export_rows(store, run_id, labeled_only=labeled_only, pinned_only=pinned_only)
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    import pandas as pd

    buffer = io.BytesIO()
    frame = pd.DataFrame(rows)
    for column in ("label", "flips"):  # a missing label must not turn every label into a float (1.0)
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    if fmt == "csv":
        frame.to_csv(buffer, index=False)
    elif fmt == "parquet":
        frame.to_parquet(buffer, index=False)
    else:
        raise ValueError(f"unknown export format {fmt!r}; valid: jsonl, csv, parquet, finetune")
    return buffer.getvalue()


def export_run(
    store: Store,
    run_id: str,
    out: str | Path,
    *,
    fmt: str | None = None,
    labeled_only: bool = True,
    pinned_only: bool = False,
) -> Path:
    """Write the export; the format comes from `fmt` or the extension (a folder for `datasets`)."""
    out = Path(out)
    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; valid: {', '.join(EXPORT_FORMATS)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "datasets":
        from datasets import Dataset

        rows = export_rows(store, run_id, labeled_only=labeled_only, pinned_only=pinned_only)
        Dataset.from_list(rows).save_to_disk(str(out))
        return out
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(export_bytes(store, run_id, fmt, labeled_only=labeled_only, pinned_only=pinned_only))
    tmp.replace(out)  # atomic: a reader never sees half a file
    return out


def confined_path(folder: Path, name: str) -> Path:
    """`folder/name`, refusing names that would escape `folder` (.., absolute paths, separators)."""
    candidate = (folder / name).resolve()
    if not name or Path(name).name != name or candidate.parent != folder.resolve():
        raise ValueError(f"file name {name!r} must be a plain name (no folders, no ..)")
    return candidate
