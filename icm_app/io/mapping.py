"""Default column mapping for a newly loaded file: which column is the gold label, what the template reads.

No default may put the gold column into a prompt: the template is built from the other columns only.
"""

from __future__ import annotations

# lower-cased column names that hold a gold label, most specific first
GOLD_NAMES = ("label", "gold", "gold_label", "is_correct", "correct", "answer", "target", "truth", "y")
# columns that usually carry the text to judge; when present, the template uses only these
TEXT_NAMES = ("text", "sentence", "review", "question", "claim", "choice", "statement", "content", "input")


def propose_gold(columns: list[str]) -> str | None:
    """The column named like a gold label (`label`, `gold`, `answer`, `is_correct`, …), else None."""
    by_name = {c.strip().lower(): c for c in columns}
    return next((by_name[n] for n in GOLD_NAMES if n in by_name), None)


def default_template(columns: list[str], gold: str | None) -> str:
    """A generic claim template over the non-gold columns (text-like ones when there are any)."""
    usable = [c for c in columns if c != gold]
    texty = [c for c in usable if c.strip().lower() in TEXT_NAMES]
    chosen = texty or usable
    if not chosen:
        return ""
    if len(chosen) == 1:
        return "{" + chosen[0] + "}\nI think this claim is"
    lines = [f"{c.replace('_', ' ').strip().capitalize()}: {{{c}}}" for c in chosen]
    return "\n".join(lines) + "\nI think this claim is"
