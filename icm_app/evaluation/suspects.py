"""Suspect labels without gold: rank a run's labels by the model's own evidence against them (cleanlab's
idea with ICM's signals), and, where gold exists, measure the ranking by precision at K against a random K.

The score, fixed before anything was measured and never tuned on gold (all terms in log-odds units, nats):

    suspicion = against + 0.5 * min(flips, 4) + 1.0 * [in a violated rule]
                + 2.0 * (1 - chain agreement) + 2.0 * (1 - stability across compared runs)

- `against`: the leave-one-out log-odds against the example's label, log P(other word) - log P(its word),
  given all the other labels as demonstrations (the run's stored, calibrated score). Positive: the model
  prefers the other label. It carries the most weight because it is the model's direct evidence.
- `flips`: how often the search changed the label; each flip adds half a nat, capped at four flips (2 nats)
  so one wandering example cannot outrank strong model evidence on its own.
- a violated consistency rule adds one nat: the label breaks a rule with another label (one of them is wrong).
- chain disagreement (1 - the share of the run's restart chains giving the label; 0 with one chain) and
  disagreement across compared runs of the same texts (1 - stability; 0 without compared runs) add up to
  two nats each: labels that other searches did not reach are less settled.
A missing signal (no score, one chain, no compared runs) adds nothing. Ties go to the lower idx.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.consistency import find_violations, group_members
from ..core.predictability import log_sigmoid
from ..store.sqlite_store import Store

FLIP_WEIGHT = 0.5  # nats per flip
MAX_FLIPS = 4  # flips beyond this add nothing (at most 2 nats)
RULE_WEIGHT = 1.0  # nats for taking part in a violated rule
CHAIN_WEIGHT = 2.0  # nats for full disagreement across the run's restart chains
RUNS_WEIGHT = 2.0  # nats for full disagreement across compared runs
DEFAULT_KS = (5, 10, 20)  # the K of precision at K shown on the Evaluate page and by `icm eval`
FORMULA = (
    "suspicion = log-odds against the label + 0.5 per flip (at most 4) + 1 if in a violated rule"
    " + 2 × (1 − chain agreement) + 2 × (1 − agreement across compared runs)"
)


def sigmoid(x: float) -> float:
    """P(label 1) from log-odds toward label 1; never overflows."""
    return math.exp(log_sigmoid(x))


@dataclass(frozen=True)
class Suspect:
    """One labeled example's signals and their sum; higher `suspicion` = more likely wrong."""

    idx: int
    label: int
    pinned: bool
    suspicion: float
    against: float | None  # leave-one-out log-odds against the label (None: never scored)
    p_label1: float | None  # the model's probability of label 1 (the first label word)
    flips: int
    violated: tuple[str, ...]  # the rules it breaks together with other labels
    chain_disagreement: float | None  # 1 - share of restart chains agreeing (None: one chain)
    run_disagreement: float | None  # 1 - share of compared runs agreeing (None: none compared)
    reason: str


def _reason(s: dict[str, Any], words: Sequence[str]) -> str:
    """A short sentence a reviewer can check: the model's view first, then the other signals."""
    parts = []
    if s["p_label1"] is not None:
        other = 1 - s["label"]
        p_other = s["p_label1"] if other == 1 else 1 - s["p_label1"]
        if s["against"] > 0:
            parts.append(f"model gives {p_other:.2f} to '{words[1 - other]}'")
        else:
            parts.append(f"model agrees: {1 - p_other:.2f} to '{words[1 - s['label']]}'")
    else:
        parts.append("no model score")
    if s["flips"]:
        parts.append(f"flipped {s['flips']} time{'s' if s['flips'] != 1 else ''}")
    if s["violated"]:
        parts.append("breaks " + ", ".join(s["violated"]))
    if s["chain_disagreement"]:
        parts.append(f"{1 - s['chain_disagreement']:.0%} of chains agree")
    if s["run_disagreement"]:
        parts.append(f"{1 - s['run_disagreement']:.0%} of compared runs agree")
    if s["pinned"]:
        parts.append("pinned")
    return "; ".join(parts)


def rank_suspects(
    labels: Mapping[int, Mapping[str, Any]],
    *,
    violated: Mapping[int, Sequence[str]] | None = None,
    stability: Mapping[int, float] | None = None,
    words: Sequence[str] = ("1", "0"),
) -> list[Suspect]:
    """Labeled examples, most suspect first (ties: lower idx first).

    `labels`: Store.labels() rows (label, pinned, score = log-odds toward label 1, flips, agreement);
    `violated`: idx -> rules it breaks; `stability`: idx -> share of compared runs giving the same label;
    `words`: the label words, label 1 first (for the reasons).
    """
    violated, stability = violated or {}, stability or {}
    out = []
    for idx, v in labels.items():
        label = v.get("label")
        if label is None:
            continue
        score = v.get("score")
        against = None if score is None else (-score if label == 1 else score)
        agreement, stable = v.get("agreement"), stability.get(idx)
        s = {
            "idx": int(idx), "label": int(label), "pinned": bool(v.get("pinned")), "against": against,
            "p_label1": None if score is None else sigmoid(score), "flips": int(v.get("flips") or 0),
            "violated": tuple(sorted(set(violated.get(idx, ())))),
            "chain_disagreement": None if agreement is None else 1 - agreement,
            "run_disagreement": None if stable is None else 1 - stable,
        }  # fmt: skip
        suspicion = (
            (against or 0.0)
            + FLIP_WEIGHT * min(s["flips"], MAX_FLIPS)
            + RULE_WEIGHT * bool(s["violated"])
            + CHAIN_WEIGHT * (s["chain_disagreement"] or 0.0)
            + RUNS_WEIGHT * (s["run_disagreement"] or 0.0)
        )
        out.append(Suspect(suspicion=suspicion, reason=_reason(s, words), **s))
    return sorted(out, key=lambda s: (-s.suspicion, s.idx))


def violated_rules(store: Store, run_id: str, labels: Mapping[int, int]) -> dict[int, list[str]]:
    """idx -> the rules its label breaks with other labels (the core's own rules, as the search sees them)."""
    examples, _ = store.search_examples(run_id)
    found = find_violations(group_members(examples), dict(labels), store.run(run_id).task["rules"])
    broken: dict[int, list[str]] = defaultdict(list)
    for v in found:
        for i in v.ids:
            broken[i].append(v.rule)
    return dict(broken)


def run_suspects(store: Store, run_id: str, *, stability: Mapping[int, float] | None = None) -> list[Suspect]:
    """The ranking of a stored run's current labels (overrides included)."""
    stored = store.labels(run_id)
    labels = {i: v["label"] for i, v in stored.items() if v["label"] is not None}
    words = [w.strip() for w in store.run(run_id).task["label_words"]]
    return rank_suspects(
        stored, violated=violated_rules(store, run_id, labels), stability=stability, words=words
    )


def precision_at_k(
    ranking: Sequence[Suspect | int], labels: Mapping[int, int | None], gold: Mapping[int, int | None], k: int
) -> dict[str, Any]:
    """How many of the top K labels (among those with gold) disagree with gold, against a random K.

    Returns k (capped at the number graded), n_graded (labeled with gold), n_wrong (of those), wrong_in_top,
    precision (wrong_in_top / k) and random (n_wrong / n_graded: the expected precision of K labels drawn
    at random), both None without gold; lift = precision / random (None when random is 0 or undefined).
    """
    order = [r.idx if isinstance(r, Suspect) else int(r) for r in ranking]
    graded = [i for i in order if labels.get(i) is not None and gold.get(i) is not None]
    wrong = {i for i in graded if labels[i] != gold[i]}
    k = min(k, len(graded))
    top = sum(i in wrong for i in graded[:k])
    precision = top / k if k else None
    random = len(wrong) / len(graded) if graded else None
    return {
        "k": k, "n_graded": len(graded), "n_wrong": len(wrong), "wrong_in_top": top, "precision": precision,
        "random": random, "lift": precision / random if precision is not None and random else None,
    }  # fmt: skip


def precision_at_ks(
    ranking: list[Suspect], gold: Mapping[int, int | None], ks: tuple[int, ...] = DEFAULT_KS
) -> list[dict[str, Any]]:
    """Precision at each K (capped at the labels with gold), or [] when no label has gold: what `icm eval`
    prints and the Evaluate page charts."""
    labels = {s.idx: s.label for s in ranking}
    n_graded = precision_at_k(ranking, labels, gold, 0)["n_graded"]
    if not n_graded:
        return []
    return [precision_at_k(ranking, labels, gold, k) for k in sorted({min(k, n_graded) for k in ks})]


def report_lines(
    store: Store, run_id: str, k: int = 10, *, stability: Mapping[int, float] | None = None
) -> list[str]:
    """What `icm eval` prints: the formula, the top K with their reasons, and precision at K with gold."""
    ranking = run_suspects(store, run_id, stability=stability)
    lines = [f"suspect labels (no gold used): {FORMULA}"]
    if not ranking:
        return lines + ["  no labels yet"]
    for s in ranking[:k]:
        lines.append(f"  {s.idx:>5}  {s.suspicion:6.2f}  label {s.label}: {s.reason}")
    gold = {e["idx"]: e["gold"] for e in store.examples(run_id)}
    results = precision_at_ks(ranking, gold, (*DEFAULT_KS, k))
    if not results:
        return lines + ["  precision at K: n/a: no gold"]
    for p in results:
        lines.append(
            f"  precision at {p['k']}: {p['wrong_in_top']}/{p['k']} wrong = {p['precision']:.2f}"
            f" vs random {p['k']}: {p['random']:.2f} ({p['n_wrong']} of {p['n_graded']} labels disagree with gold)"
        )
    return lines
