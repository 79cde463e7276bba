"""Default column mapping for a newly loaded file: which column is the gold label, what the template reads,
and which label words the gold values suggest.

No default may put the gold column into a prompt: the template is built from the other columns only.
"""

from __future__ import annotations

from collections.abc import Iterable

# lower-cased column names that hold a gold label, most specific first
GOLD_NAMES = ("label", "gold", "gold_label", "is_correct", "correct", "answer", "target", "truth", "y",
              "sentiment", "class", "category", "polarity")  # fmt: skip
# columns that usually carry the text to judge; when present, the template uses only these
TEXT_NAMES = ("text", "sentence", "review", "question", "claim", "choice", "statement", "content", "input")
# gold values that already read as 1/0: no label words to propose
BINARY_VALUES = {"0", "1", "true", "false", "yes", "no", "0.0", "1.0"}
# values that name the "1" side when a gold column holds two words
POSITIVE_WORDS = ("positive", "pos", "good", "correct", "right", "true", "yes", "entailment", "spam", "toxic")


def propose_gold(columns: list[str]) -> str | None:
    """The column named like a gold label (`label`, `gold`, `answer`, `sentiment`, `class`, …), else None."""
    by_name = {c.strip().lower(): c for c in columns}
    return next((by_name[n] for n in GOLD_NAMES if n in by_name), None)


def propose_label_words(values: Iterable[object]) -> tuple[str, str] | None:
    """(word for 1, word for 0) when the gold values are exactly two words that are not already 0/1 or
    true/false (a `label` column of `positive`/`negative` gives (" positive", " negative")); else None.
    The word for 1 is the positive-sounding one, or the first in alphabetical order."""
    seen = sorted({str(v).strip() for v in values if v is not None and str(v).strip()}, key=str.lower)
    if len(seen) != 2 or {s.lower() for s in seen} <= BINARY_VALUES:
        return None
    one = next((s for word in POSITIVE_WORDS for s in seen if s.lower() == word), seen[0])
    zero = seen[1] if one == seen[0] else seen[0]
    return f" {one}", f" {zero}"


def default_template(columns: list[str], gold: str | None, *, words: tuple[str, str] | None = None) -> str:
    """A generic template over the non-gold columns (text-like ones when there are any). With label words
    (gold values such as positive/negative) it ends by naming the gold column ("Sentiment:"), so the model
    is asked for a word of that kind; otherwise it asks for True/False about a claim."""
    usable = [c for c in columns if c != gold]
    texty = [c for c in usable if c.strip().lower() in TEXT_NAMES]
    chosen = texty or usable
    if not chosen:
        return ""
    ending = f"{_title(gold)}:" if words and gold else "I think this claim is"
    if len(chosen) == 1 and not words:
        return "{" + chosen[0] + "}\n" + ending
    lines = [f"{_title(c)}: {{{c}}}" for c in chosen]
    return "\n".join(lines) + "\n" + ending


def _title(column: str) -> str:
    return column.replace("_", " ").strip().capitalize()
