"""How a researcher's override or undo changes one example's (label, pinned): the one rule that the store
(what a reader sees now), the runner (what the search is given) and so every page share."""

from __future__ import annotations


def fold_override(
    label: int | None, pinned: bool, *, kind: str, new_label: int | None, new_pinned: bool
) -> tuple[int | None, bool]:
    """(label, pinned) after one override. kind "restore" (an undo) sets both exactly as recorded, label None
    meaning unlabeled again; an "override" to a label pins it there; an override to None unpins and keeps
    the label."""
    if kind == "restore":
        return new_label, bool(new_pinned) and new_label is not None
    if new_label is None:
        return label, False
    return new_label, True
