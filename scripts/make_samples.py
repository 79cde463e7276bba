"""Regenerate sample_data/ from ../shared/data with fixed seeds (random draws, not hand-picked)."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

SHARED = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
OUT = Path(__file__).resolve().parent.parent / "sample_data"


def write(name: str, rows: list[dict]) -> None:
    (OUT / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def sentiment(n_per_class: int = 32, seed: int = 0) -> None:
    """The labeling sample, then a disjoint held-out test split drawn the same way (seed + 1)."""
    taken: set[str] = set()
    for name, rng in (
        ("rt_polarity.jsonl", random.Random(seed)),
        ("rt_polarity_test.jsonl", random.Random(seed + 1)),
    ):
        rows = []
        for polarity, label in (("pos", 1), ("neg", 0)):
            path = SHARED / "rt-polarity" / f"rt-polarity.{polarity}"
            lines = path.read_text(encoding="utf-8").splitlines()
            pool = [t for t in lines if t.strip() not in taken]
            rows += [{"text": t.strip(), "label": label} for t in rng.sample(pool, n_per_class)]
        rng.shuffle(rows)
        taken |= {r["text"] for r in rows}
        write(name, rows)


def grouped(src: str, name: str, n_groups: int, seed: int = 0, drop: tuple[str, ...] = ()) -> None:
    """Whole consistency groups drawn at random; labels normalised to 0/1; fields in `drop` removed."""
    data = json.loads((SHARED / "paper" / src).read_text(encoding="utf-8"))
    groups = sorted({r["consistency_id"] for r in data})
    chosen = set(random.Random(seed).sample(groups, n_groups))
    rows = []
    for r in data:
        if r["consistency_id"] in chosen:
            r = {k: v for k, v in r.items() if k not in drop}
            r["label"] = int(bool(r["label"]))
            rows.append(r)
    write(name, rows)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    sentiment()
    grouped("test_truthfulqa.json", "truthfulqa.jsonl", 8)
    grouped("train_truthfulqa.json", "truthfulqa_test.jsonl", 8)  # held-out: other questions, other file
    grouped("test_gsm8k.json", "gsm8k.jsonl", 8, drop=("ref_cot", "ref_answer"))
    grouped("test_alpaca.json", "alpaca.jsonl", 16, drop=("candidate_label",))
