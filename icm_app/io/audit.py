"""The audit trail of a run (every human override and undo) and one example's label history.

Reviewers need to say who changed which label, when and why, and an example's history has to tell the
search's own changes (its initial labels, flips, swaps, ConsistencyFix, completion) from human ones.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from ..store.sqlite_store import Store

AUDIT_COLUMNS = (
    "id", "kind", "idx", "text", "who", "when", "old_label", "old_word", "old_pinned", "new_label",
    "new_word", "pinned", "note", "applied_iteration", "applied_chain",
)  # fmt: skip


def local_time(at: float | None) -> str:
    """ISO 8601 in the local time zone with its UTC offset (readable, and unambiguous across zones)."""
    return datetime.fromtimestamp(at).astimezone().isoformat(timespec="seconds") if at else ""


def label_word(task: dict[str, Any], label: int | None) -> str:
    """The task's word for a label (`label_words[0]` is label 1); '' for no label."""
    if label is None:
        return ""
    words = task.get("label_words") or (" True", " False")
    return str(words[0] if label == 1 else words[1]).strip()


def example_text(example: dict[str, Any]) -> str:
    """An example's fields joined, as a reviewer reads it."""
    return " | ".join(str(v) for v in example["fields"].values())


def audit_rows(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Every override and restore (undo) of the run, oldest first, with the example's text and label words.

    `applied_iteration` is the iteration whose checkpoint first held it (None: still pending, or the run had
    finished, in which case it shows through the labels at once)."""
    info = store.run(run_id)
    texts = {e["idx"]: example_text(e) for e in store.examples(info.id)}
    out = []
    for o in store.overrides(info.id):
        old_pinned = o.get("old_pinned")
        out.append(
            {
                "id": o["id"], "kind": o.get("kind") or "override", "idx": o["idx"],
                "text": texts.get(o["idx"], ""), "who": o["who"], "when": local_time(o["at"]),
                "old_label": o["old_label"], "old_word": label_word(info.task, o["old_label"]),
                "old_pinned": None if old_pinned is None else bool(old_pinned),
                "new_label": o["new_label"], "new_word": label_word(info.task, o["new_label"]),
                "pinned": bool(o["pinned"]), "note": o["note"] or "",
                "applied_iteration": o.get("applied_iteration"), "applied_chain": o.get("applied_chain"),
            }
        )  # fmt: skip
    return out


def audit_csv(store: Store, run_id: str) -> bytes:
    """The audit trail as UTF-8 CSV (one row per override or restore)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=AUDIT_COLUMNS)
    writer.writeheader()
    for row in audit_rows(store, run_id):
        writer.writerow({k: "" if row[k] is None else row[k] for k in AUDIT_COLUMNS})
    return buffer.getvalue().encode("utf-8")


def change_cause(event: dict[str, Any] | None, idx: int) -> str:
    """Why the search changed `idx` at this event: init, completion, search flip, swap or ConsistencyFix."""
    if event is None:
        return "search flip"
    phase = event.get("phase") or ("init" if event.get("iteration") == 0 else "search")
    if phase == "init":
        return "init"
    if phase == "complete":
        return "completion" if event.get("proposed") == idx else "ConsistencyFix"
    if event.get("move") == "swap" and idx in (event.get("proposed"), event.get("partner")):
        return "swap"
    if event.get("proposed") == idx:
        return "search flip"
    return "ConsistencyFix"


def label_history_rows(store: Store, run_id: str, idx: int) -> list[dict[str, Any]]:
    """One example's history: the search's changes (label_changes) and human overrides merged in order.

    A change at the iteration whose checkpoint first held an override of this example is that override's
    (cause override/restore, with who/when/note); overrides that changed nothing, and pending ones, are rows
    of their own (pending last). Each row: chain, iteration, cause, old/new label and word, old/new pinned,
    who, when, note."""
    info = store.run(run_id)
    events = {(e["chain"], e["iteration"]): e for e in store.all_events(info.id)}
    human: dict[tuple[int, int], list[dict[str, Any]]] = {}
    pending = []
    for o in store.overrides(info.id):
        if o["idx"] != idx:
            continue
        if o["applied"] and o.get("applied_iteration") is not None:
            human.setdefault((o.get("applied_chain") or 0, o["applied_iteration"]), []).append(o)
        else:
            pending.append(o)

    def row(chain: int | None, iteration: int | None, cause: str, old: Any, new: Any, old_pin: Any, new_pin: Any,
            o: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
        return {
            "chain": chain, "iteration": iteration, "cause": cause, "old_label": old,
            "old_word": label_word(info.task, old), "new_label": new, "new_word": label_word(info.task, new),
            "old_pinned": None if old_pin is None else bool(old_pin),
            "new_pinned": None if new_pin is None else bool(new_pin),
            "who": o["who"] if o else "", "when": local_time(o["at"]) if o else "", "note": (o or {}).get("note") or "",
        }  # fmt: skip

    def human_row(o: dict[str, Any], chain: int | None, iteration: int | None) -> dict[str, Any]:
        kind = o.get("kind") or "override"
        return row(chain, iteration, kind if o["applied"] else f"{kind} (pending)", o["old_label"],
                   o["new_label"], o.get("old_pinned"), o["pinned"], o)  # fmt: skip

    out = []
    for change in store.label_history(info.id, idx):
        key = (change["chain"], change["iteration"])
        mine = human.pop(key, [])
        for o in mine[:-1]:  # superseded before the search saw them
            out.append(human_row(o, *key))
        last = mine[-1] if mine else None
        cause = (last.get("kind") or "override") if last else change_cause(events.get(key), idx)
        out.append(row(*key, cause, change["old_label"], change["new_label"], change["old_pinned"],
                       change["new_pinned"], last))  # fmt: skip
    for key, mine in human.items():  # applied but changed nothing: placed by chain and iteration
        for o in mine:
            out.append(human_row(o, *key))
    applied = sorted(out, key=lambda r: (r["chain"], r["iteration"]))
    return applied + [human_row(o, None, None) for o in pending]
