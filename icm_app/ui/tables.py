"""The labels table and the inconsistent-pairs view, built from the store with the core's own rules."""

from __future__ import annotations

import pandas as pd

from ..core.consistency import find_violations, group_members
from ..evaluation.suspects import Suspect, rank_suspects, violated_rules
from ..io.audit import local_time
from ..store.sqlite_store import Store
from ..worker.process import iterations_done, shown_status

FILTERS = ("disagrees with gold", "inconsistent", "low confidence", "flipped often", "unstable across chains",
           "pinned", "unlabeled")  # fmt: skip
LOW_CONFIDENCE = 0.5  # |log-odds| below this: the model barely prefers the label
OFTEN = 2  # flips


def _violations(store: Store, run_id: str, labels: dict[int, int]):
    info = store.run(run_id)
    examples, _ = store.search_examples(run_id)
    return examples, find_violations(group_members(examples), labels, info.task["rules"])


def labels_table(store: Store, run_id: str) -> pd.DataFrame:
    """One row per example: text, label, confidence (log-odds toward the label), flips, rules broken, gold, pin."""
    stored = store.labels(run_id)
    labels = {i: v["label"] for i, v in stored.items() if v["label"] is not None}
    examples, _ = store.search_examples(run_id)
    broken = {i: set(rules) for i, rules in violated_rules(store, run_id, labels).items()}
    gold = {e["idx"]: e["gold"] for e in store.examples(run_id)}
    suspicion = {s.idx: s.suspicion for s in rank_suspects(stored, violated=broken)}
    rows = []
    for e in examples:
        s = stored.get(e.idx, {})
        label, score = s.get("label"), s.get("score")
        rows.append({
            "idx": e.idx,
            "text": " | ".join(e.fields.values()),
            "label": label,
            "confidence": None if score is None or label is None else (score if label == 1 else -score),
            "suspicion": suspicion.get(e.idx),  # see icm_app.evaluation.suspects: higher = more likely wrong
            "flips": s.get("flips", 0),
            "chain agreement": s.get("agreement"),  # share of restart chains giving this label (None: 1 chain)
            "violations": ", ".join(sorted(broken.get(e.idx, ()))),
            "gold": gold.get(e.idx),
            "pinned": bool(s.get("pinned", False)),
            "group": e.group,
        })  # fmt: skip
    return pd.DataFrame(rows)


REVIEW_ORDERS = ("most suspect first", "least confident first", "index")


def review_order(ranking: list[Suspect], all_idx: list[int], order: str) -> list[int]:
    """The card view's order over every example: labeled ones by suspicion (the ranking's order) or by
    confidence toward their label (lowest first), unlabeled ones after them; or plainly by idx."""
    if order not in REVIEW_ORDERS:
        raise ValueError(f"unknown order {order!r}; choose one of {', '.join(REVIEW_ORDERS)}")
    if order == "index":
        return sorted(all_idx)
    if order == "least confident first":
        ranking = sorted(ranking, key=lambda s: (-(s.against if s.against is not None else 0.0), s.idx))
    labeled = [s.idx for s in ranking]
    return labeled + sorted(set(all_idx) - set(labeled))


def runs_table(store: Store, runs: list) -> pd.DataFrame:
    """One row per run (newest first): status, size, last iteration, U, gold agreement, model."""
    rows = []
    for r in runs:
        events = store.events(r.id)
        last = events[-1] if events else {}
        rows.append({"id": r.id, "name": r.name, "status": shown_status(r), "examples": len(store.examples(r.id)),
                     "labeled": last.get("n_labeled"), "iteration": iterations_done(events),
                     "of": r.search.get("iterations"), "U": last.get("U"),
                     "gold agreement": last.get("gold_agreement"), "model": r.model})  # fmt: skip
    return pd.DataFrame(rows)


def apply_filters(df: pd.DataFrame, filters: list[str], search: str = "") -> pd.DataFrame:
    """Rows matching every chosen filter and containing `search` (case-insensitive)."""
    masks = {
        "disagrees with gold": df["gold"].notna() & df["label"].notna() & (df["gold"] != df["label"]),
        "inconsistent": df["violations"] != "",
        "low confidence": pd.to_numeric(df["confidence"], errors="coerce").abs() < LOW_CONFIDENCE,
        "flipped often": df["flips"] >= OFTEN,
        "unstable across chains": df["chain agreement"].notna() & (df["chain agreement"] < 1),
        "pinned": df["pinned"],
        "unlabeled": df["label"].isna(),
    }
    for f in filters:
        df = df[masks[f].loc[df.index]]
    if search:
        df = df[df["text"].str.contains(search, case=False, regex=False)]
    return df


def audit_trail(store: Store, run_id: str) -> pd.DataFrame:
    """Every override, oldest first: when (local time), who, which example, old → new, and when applied."""

    def applied(o) -> str:
        if not o["applied"]:
            return "pending (the search applies it when it next runs)"
        return "before tracking" if o.get("applied_iteration") is None else str(o["applied_iteration"])

    return pd.DataFrame([
        {"when": local_time(o["at"]), "who": o["who"], "idx": o["idx"],
         "old label": "unlabeled" if o["old_label"] is None else str(o["old_label"]),
         "new label": "unpinned" if o["new_label"] is None else str(o["new_label"]), "note": o["note"],
         "applied at iteration": applied(o)}
        for o in store.overrides(run_id)
    ])  # fmt: skip


def inconsistent_pairs(store: Store, run_id: str) -> pd.DataFrame:
    """Each current violation with its members' texts and labels side by side."""
    labels = store.current_labels(run_id)
    examples, violations = _violations(store, run_id, labels)
    by_idx = {e.idx: e for e in examples}
    return pd.DataFrame([
        {"rule": v.rule, "ids": list(v.ids),
         **{f"text {k + 1}": " | ".join(by_idx[i].fields.values()) for k, i in enumerate(v.ids[:2])},
         **{f"label {k + 1}": labels[i] for k, i in enumerate(v.ids[:2])}}
        for v in violations
    ])  # fmt: skip


PENDING = "pending — applies at the next iteration"


def history_table(rows: list[dict]) -> pd.DataFrame:
    """One example's label history (icm_app.io.audit.label_history_rows) as a reviewer reads it: where
    (chain, iteration; blank while a human change is still pending), why, from which word to which."""
    df = pd.DataFrame(rows, columns=["chain", "iteration", "cause", "old_word", "new_word", "new_pinned", "who",
                                     "when", "note"])  # fmt: skip
    df = df.rename(columns={"old_word": "from", "new_word": "to", "new_pinned": "pinned"})
    df["from"] = df["from"].replace("", "unlabeled")
    df["to"] = df["to"].replace("", "unlabeled")
    pending = df["iteration"].isna()
    df["chain"] = df["chain"].astype("Int64").astype(str).where(~pending, "")
    df["iteration"] = df["iteration"].astype("Int64").astype(str).where(~pending, PENDING)
    return df
