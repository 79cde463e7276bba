"""Logical consistency rules and I(D), the count of violations (Wen et al. 2025, §2.2).

Rules see only `group` and `key`, fields that exist without labels; never derive them from gold labels.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .types import Example, Labels

MAX_GROUP_ENUMERATION = 12  # 2^12 assignments is the most ConsistencyFix will enumerate for one group


@dataclass(frozen=True)
class Violation:
    """A set of labeled examples whose labels break `rule` together (a pair, or a whole one-of-k group)."""

    rule: str
    ids: tuple[int, ...]


def _pairs(members: Sequence[Example], labels: Labels) -> Iterable[tuple[Example, Example]]:
    labeled = [e for e in members if e.idx in labels]
    return itertools.combinations(labeled, 2)


def _exclusive(members: Sequence[Example], labels: Labels) -> list[Violation]:
    """Different keys in one group (e.g. different final answers) cannot both be True."""
    return [
        Violation("exclusive", (a.idx, b.idx))
        for a, b in _pairs(members, labels)
        if a.key != b.key and labels[a.idx] == 1 and labels[b.idx] == 1
    ]


def _equivalent(members: Sequence[Example], labels: Labels) -> list[Violation]:
    """Equal keys in one group (e.g. the same final answer) must share a label."""
    return [
        Violation("equivalent", (a.idx, b.idx))
        for a, b in _pairs(members, labels)
        if a.key == b.key and labels[a.idx] != labels[b.idx]
    ]


def _asymmetric(members: Sequence[Example], labels: Labels) -> list[Violation]:
    """A comparison and its reverse: exactly one is True (the authors' code also flags both False)."""
    return [
        Violation("asymmetric", (a.idx, b.idx))
        for a, b in _pairs(members, labels)
        if labels[a.idx] == labels[b.idx]
    ]


def _one_of_k(members: Sequence[Example], labels: Labels) -> list[Violation]:
    """Exactly one claim of the group is True: each True pair, and a full group with none True, violate."""
    found = [
        Violation("one_of_k", (a.idx, b.idx))
        for a, b in _pairs(members, labels)
        if labels[a.idx] == 1 and labels[b.idx] == 1
    ]
    if len(members) > 1 and all(e.idx in labels and labels[e.idx] == 0 for e in members):
        found.append(Violation("one_of_k", tuple(e.idx for e in members)))
    return found


RULES: dict[str, Callable[[Sequence[Example], Labels], list[Violation]]] = {
    "exclusive": _exclusive,
    "equivalent": _equivalent,
    "asymmetric": _asymmetric,
    "one_of_k": _one_of_k,
}


def check_rules(rules: Iterable[str]) -> tuple[str, ...]:
    """Validate rule names early, listing the valid ones."""
    rules = tuple(rules)
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise ValueError(f"unknown consistency rule {unknown[0]!r}; valid: {', '.join(RULES)}")
    return rules


def group_members(examples: Iterable[Example]) -> dict[str, list[Example]]:
    """Examples by consistency group; examples without a group take part in no rule."""
    groups: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        if e.group is not None:
            groups[e.group].append(e)
    return dict(groups)


def find_violations(
    groups: Mapping[str, Sequence[Example]], labels: Labels, rules: Sequence[str]
) -> list[Violation]:
    """Every violation among labeled examples, in a deterministic order."""
    found: list[Violation] = []
    for name in sorted(groups):
        for rule in rules:
            found.extend(RULES[rule](groups[name], labels))
    return found


def proportion_excess(labels: Labels, *, min_share: float | None, max_share: float | None) -> int:
    """Label-proportion rule (our extension, DESIGN §4): how many labels lie outside the allowed share of 1s.

    Bounds are rounded outward (ceil of the upper, floor of the lower), so that a small labeled set can
    still grow one example at a time without every addition breaking the rule.
    """
    n, ones = len(labels), sum(labels.values())
    over = 0 if max_share is None else max(0, ones - math.ceil(max_share * n - 1e-9))
    under = 0 if min_share is None else max(0, math.floor(min_share * n + 1e-9) - ones)
    return over + under


def consistent_options(
    violation: Violation,
    groups: Mapping[str, Sequence[Example]],
    examples: Mapping[int, Example],
    labels: Labels,
    rules: Sequence[str],
    pinned: Iterable[int],
) -> list[dict[int, int]]:
    """All label assignments to the violation's unpinned members under which those members no longer
    violate any rule among themselves (Algorithm 2's per-pair options, e.g. (1,0), (0,1), (0,0)).

    Enumerates every option, not just two; pinned members keep their labels. Other violations in the
    group are left to U, which counts them, and to later rounds.
    """
    free = [i for i in violation.ids if i not in set(pinned)]
    if not free or len(free) > MAX_GROUP_ENUMERATION:
        return []
    group = groups[examples[violation.ids[0]].group]  # type: ignore[index]
    ids = set(violation.ids)
    options = []
    for values in itertools.product((0, 1), repeat=len(free)):
        option = dict(zip(free, values))
        trial = {**labels, **option}
        local = {e.idx: trial[e.idx] for e in group if e.idx in trial}
        if not any(set(v.ids) <= ids for r in rules for v in RULES[r](group, local)):
            options.append(option)
    return options


def decide_by_confidence(
    groups: Mapping[str, Sequence[Example]],
    logodds: Mapping[int, float],
    rules: Sequence[str],
    pinned: Mapping[int, int] | None = None,
) -> Labels:
    """The paper's Algorithm 4: label each example by the sign of its log-odds (>= 0 is 1), but within a
    group the most confident prediction decides and the others are set consistent with it.

    Greedy in confidence order (pins first, then |log-odds| descending, lower id among ties): each member
    takes its predicted label when that breaks no rule with the members already decided, else the other
    label when that breaks none, else its predicted label. Pins are kept as they are; examples outside
    `logodds` and pins are left out.
    """
    pinned = dict(pinned or {})
    labels: Labels = {i: (1 if lo >= 0 else 0) for i, lo in logodds.items()}
    labels.update(pinned)
    for name in sorted(groups):
        members = [e for e in groups[name] if e.idx in labels]
        members.sort(key=lambda e: (e.idx not in pinned, -abs(logodds.get(e.idx, 0.0)), e.idx))
        decided: Labels = {}
        for e in members:
            if e.idx in pinned:
                decided[e.idx] = pinned[e.idx]
                continue
            predicted = labels[e.idx]
            for choice in (predicted, 1 - predicted):
                trial = {**decided, e.idx: choice}
                if not _violations_with(members, len(groups[name]), trial, rules, e.idx):
                    break
            else:
                choice = predicted
            decided[e.idx] = choice
        labels.update(decided)
    return labels


def _violations_with(
    members: Sequence[Example], group_size: int, labels: Labels, rules: Sequence[str], idx: int
) -> list[Violation]:
    """Violations among the decided members that involve `idx`; a one-of-k group with no True member
    counts only once every member of the whole group is decided, as in `find_violations`."""
    decided = [e for e in members if e.idx in labels]
    full = len(decided) == group_size
    return [v for r in rules for v in RULES[r](decided, labels) if idx in v.ids
            and (r != "one_of_k" or full or all(labels[i] == 1 for i in v.ids))]  # fmt: skip
