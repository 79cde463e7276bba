"""Runs side by side: the same example texts labeled by other seeds, alphas or models.

Examples are matched across runs by their text fields (the fields the template reads), never by idx: a run
made with another --limit or row order still matches. The n-th occurrence of a text in one run matches its
n-th occurrence in another, so duplicated rows pair up one to one. Labels are only comparable when the runs
use the same label words; runs with different words, or with no example text in common, are refused.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..store.sqlite_store import RunInfo, Store


class CompareError(ValueError):
    """Runs that cannot be compared (unknown, fewer than two, different label words, no shared text)."""


TextKey = tuple[str, int]  # (the example's text fields as canonical JSON, occurrence of that text in its run)


def text_keys(examples: list[dict[str, Any]]) -> dict[int, TextKey]:
    """idx -> its matching key: the text fields (canonical JSON) and which occurrence of that text it is."""
    seen: Counter[str] = Counter()
    out = {}
    for ex in sorted(examples, key=lambda e: e["idx"]):
        text = json.dumps(ex["fields"], sort_keys=True, ensure_ascii=False)
        out[ex["idx"]] = (text, seen[text])
        seen[text] += 1
    return out


def _words(info: RunInfo) -> tuple[str, ...]:
    return tuple(w.strip() for w in info.task["label_words"])


@dataclass
class _Run:
    """One run's matching data: idx by text key, labels, gold."""

    info: RunInfo
    by_key: dict[TextKey, int]
    labels: dict[int, int]
    gold: dict[int, int]
    texts: dict[int, str]


def _load(store: Store, run_id: str) -> _Run:
    info = store.run(run_id)
    examples = store.examples(info.id)
    keys = text_keys(examples)
    labels = store.current_labels(info.id)
    return _Run(
        info=info,
        by_key={k: i for i, k in keys.items()},
        labels=labels,
        gold={e["idx"]: e["gold"] for e in examples if e["gold"] is not None},
        texts={e["idx"]: " | ".join(str(v) for v in e["fields"].values()) for e in examples},
    )


def _load_all(store: Store, run_ids: list[str] | tuple[str, ...]) -> list[_Run]:
    """The runs, refusing fewer than two distinct ones and different label words (unknown ids raise
    RunNotFoundError from the store)."""
    runs = [_load(store, r) for r in run_ids]
    ids = [r.info.id for r in runs]
    if len(set(ids)) < 2:
        raise CompareError(f"compare needs two or more different runs; got {', '.join(ids) or 'none'}")
    if len(set(ids)) != len(ids):
        raise CompareError(f"run {next(i for i in ids if ids.count(i) > 1)} is named twice")
    first = runs[0]
    for r in runs[1:]:
        if _words(r.info) != _words(first.info):
            raise CompareError(
                f"runs {first.info.id} and {r.info.id} use different label words ({'/'.join(_words(first.info))} "
                f"vs {'/'.join(_words(r.info))}): their labels do not mean the same thing"
            )
    return runs


def run_label(info: RunInfo, taken: set[str] | None = None) -> str:
    """A short, unique column name for a run: its name, with the id's tail when names repeat."""
    label = info.name or info.id
    if taken is not None and label in taken:
        label = f"{label} ({info.id[-6:]})"
    if taken is not None:
        taken.add(label)
    return label


@dataclass
class Comparison:
    """What `compare_runs` finds; the tables are pandas frames ready for the page and the CLI."""

    run_ids: list[str]
    names: list[str]  # unique column names, one per run, in run_ids order
    label_words: tuple[str, ...]
    summary: pd.DataFrame  # one row per run
    examples: pd.DataFrame  # one row per example text shared by every run
    pairwise: pd.DataFrame  # names x names: share of shared, labeled-in-both examples with the same label
    n_shared: int  # example texts present in every run
    n_labeled_in_all: int  # of those, labeled in every run
    n_same: int  # of those, the same label in every run
    same_share: float | None = None  # n_same / n_labeled_in_all (None when nothing is labeled in all)
    unmatched: dict[str, int] = field(default_factory=dict)  # per run: examples with no match in every other


def _summary_row(store: Store, run: _Run) -> dict[str, Any]:
    events = store.events(run.info.id)
    last = events[-1] if events else {}
    both = [i for i in run.labels if i in run.gold]
    agreement = sum(run.labels[i] == run.gold[i] for i in both) / len(both) if both else None
    search = run.info.search
    return {
        "run": run.info.id, "name": run.info.name, "seed": search.get("seed"), "alpha": search.get("alpha"),
        "model": run.info.model, "status": run.info.status, "iterations": last.get("iteration"),
        "chains": search.get("restarts") or 1, "U": last.get("U"), "I": last.get("I"),
        "gold agreement": agreement, "labeled": len(run.labels), "examples": len(run.texts),
    }  # fmt: skip


def compare_runs(store: Store, run_ids: list[str] | tuple[str, ...]) -> Comparison:
    """Per-run summary, per-example labels side by side, the share labeled the same by every run, and the
    pairwise agreement matrix. Raises CompareError when the runs cannot be compared."""
    runs = _load_all(store, run_ids)
    taken: set[str] = set()
    names = [run_label(r.info, taken) for r in runs]
    shared = set(runs[0].by_key)
    for r in runs[1:]:
        shared &= set(r.by_key)
    if not shared:
        raise CompareError(
            f"runs {', '.join(r.info.id for r in runs)} share no example text: compare runs made from the "
            "same data (same text columns)"
        )
    words = _words(runs[0].info)
    rows = []
    n_all = n_same = 0
    for key in sorted(shared, key=lambda k: runs[0].by_key[k]):  # in the first run's order
        idxs = [r.by_key[key] for r in runs]
        labels = [r.labels.get(i) for r, i in zip(runs, idxs)]
        gold = next((r.gold[i] for r, i in zip(runs, idxs) if i in r.gold), None)
        labeled = all(lab is not None for lab in labels)
        same = labeled and len(set(labels)) == 1
        n_all += labeled
        n_same += same
        row: dict[str, Any] = {"text": runs[0].texts[idxs[0]]}
        for name, i, lab in zip(names, idxs, labels):
            row[name] = None if lab is None else words[0 if lab == 1 else 1]
            row[f"idx in {name}"] = i
        row["gold"] = None if gold is None else words[0 if gold == 1 else 1]
        row["all agree"] = same if labeled else None
        rows.append(row)
    pairwise = pd.DataFrame(1.0, index=names, columns=names)
    for (a, na), (b, nb) in itertools.combinations(zip(runs, names), 2):
        common = [(a.by_key[k], b.by_key[k]) for k in set(a.by_key) & set(b.by_key)]
        both = [(i, j) for i, j in common if i in a.labels and j in b.labels]
        share = sum(a.labels[i] == b.labels[j] for i, j in both) / len(both) if both else float("nan")
        pairwise.loc[na, nb] = pairwise.loc[nb, na] = share
    return Comparison(
        run_ids=[r.info.id for r in runs], names=names, label_words=words,
        summary=pd.DataFrame([_summary_row(store, r) for r in runs]), examples=pd.DataFrame(rows),
        pairwise=pairwise, n_shared=len(shared), n_labeled_in_all=n_all, n_same=n_same,
        same_share=n_same / n_all if n_all else None,
        unmatched={n: len(set(r.by_key) - shared) for n, r in zip(names, runs)},
    )  # fmt: skip


def curves(store: Store, run_ids: list[str] | tuple[str, ...]) -> pd.DataFrame:
    """One row per run and iteration of the run's shown chain (the kept one): U, I, gold agreement, phase.

    Column `run` holds the same unique names as Comparison.names, so a chart colours by it."""
    taken: set[str] = set()
    frames = []
    for run_id in run_ids:
        info = store.run(run_id)
        name = run_label(info, taken)
        events = store.events(info.id)
        frames.append(pd.DataFrame({
            "run_id": info.id, "run": name,
            "iteration": [e["iteration"] for e in events], "U": [e["U"] for e in events],
            "I": [e["I"] for e in events], "gold_agreement": [e["gold_agreement"] for e in events],
            "phase": [e.get("phase") for e in events],
        }))  # fmt: skip
    columns = ["run_id", "run", "iteration", "U", "I", "gold_agreement", "phase"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def label_stability(
    store: Store, run_id: str, other_run_ids: list[str] | tuple[str, ...]
) -> dict[int, float]:
    """Per labeled example idx of `run_id`: the share of the other runs (matched by text, counting only
    runs that label that text) giving it the same label. An example no other run labels is left out (no
    evidence either way); so is every example when no other run shares a text. Raises CompareError when a
    run uses different label words (their 1 and 0 mean different things)."""
    others = [r for r in other_run_ids if store.run(r).id != store.run(run_id).id]
    if not others:
        return {}
    runs = _load_all(store, [run_id, *others])
    mine, rest = runs[0], runs[1:]
    out = {}
    for key, idx in mine.by_key.items():
        if idx not in mine.labels:
            continue
        votes = [r.labels[r.by_key[key]] for r in rest if key in r.by_key and r.by_key[key] in r.labels]
        if votes:
            out[idx] = sum(v == mine.labels[idx] for v in votes) / len(votes)
    return out


def comparable_runs(store: Store, run_id: str) -> list[tuple[RunInfo, int]]:
    """Every other run with the same label words sharing example text with `run_id`, with how many texts
    it shares, most shared first (what the Compare page offers)."""
    base = _load(store, run_id)
    out = []
    for info in store.runs():
        if info.id == base.info.id or _words(info) != _words(base.info):
            continue
        keys = set(text_keys(store.examples(info.id)).values())
        n = len(keys & set(base.by_key))
        if n:
            out.append((info, n))
    return sorted(out, key=lambda p: -p[1])
