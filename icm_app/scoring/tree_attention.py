"""Tree attention: many prompts that share prefixes, scored in a few packed forward calls.

The prompts of one U evaluation form a trie (DESIGN §4: leave-one-out contexts in a fixed binary tree
share long prefixes). Its nodes are packed into one sequence in depth-first pre-order; every token gets
the position id of its depth in its own prompt and a mask that lets it see exactly its ancestors' tokens
and the earlier tokens of its own node, so each prompt's last position sees what it would see alone.
A subtree too large for one call is split: its root's tokens go into the KV cache (a plain causal path)
and its children are packed in turn behind that cache, which is cropped back afterwards.

`pieces`/`batches` give a second layout for GPUs: the trie cut into subtrees that each carry a copy of
their path, stacked as one batch, so far fewer masked-out attention pairs are computed.
This module is the plan (trie, chunks, masks); `transformers_backend.TransformersBackend` runs it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch


@dataclass
class Node:
    """A run of tokens shared by every prompt below it; `ends` are the prompts whose last token is here."""

    tokens: list[int]
    children: dict[int, Node] = field(default_factory=dict)  # keyed by the first segment's intern id
    ends: list[int] = field(default_factory=list)
    size: int = 0  # tokens in this subtree, filled in by `build_trie`


def build_trie(root_tokens: Sequence[int], prompts: Sequence[Sequence[tuple[int, Sequence[int]]]]) -> Node:
    """A trie over prompts given as (segment key, segment tokens) lists; chains are merged into one node."""
    root = Node(list(root_tokens))
    for p, segments in enumerate(prompts):
        node = root
        for key, tokens in segments:
            node = node.children.setdefault(key, Node(list(tokens)))
        node.ends.append(p)
    _merge_chains(root)
    return root


def _merge_chains(node: Node) -> int:
    """Fold single children without ends into their parent; returns and stores subtree sizes."""
    while len(node.children) == 1 and not node.ends:
        (child,) = node.children.values()
        node.tokens += child.tokens
        node.children, node.ends = child.children, child.ends
    node.size = len(node.tokens) + sum(_merge_chains(c) for c in node.children.values())
    return node.size


@dataclass
class Chunk:
    """One forward call: nodes packed after a cached path of `past` tokens."""

    past: int
    input_ids: list[int]
    positions: list[int]
    subtree_end: list[int]  # per token: end (exclusive, in this chunk) of the subtree of its node
    reads: list[tuple[int, int]]  # (prompt index, token index in this chunk) whose hidden state is read


def pack(nodes: Sequence[Node], past: int) -> Chunk:
    """Whole subtrees behind a path of `past` cached tokens, in depth-first pre-order."""
    chunk = Chunk(past, [], [], [], [])
    for node in nodes:
        _pack(node, past, chunk)
    return chunk


def _pack(node: Node, depth: int, chunk: Chunk) -> None:
    start = len(chunk.input_ids)
    n = len(node.tokens)
    chunk.input_ids += node.tokens
    chunk.positions += range(depth, depth + n)
    chunk.subtree_end += [start + node.size] * n
    chunk.reads += [(p, start + n - 1) for p in node.ends]
    for child in node.children.values():
        _pack(child, depth + n, chunk)


@dataclass
class Step:
    """Either run `chunk` and crop back (`descend` is None), or cache `chunk` (one node) and run `descend`."""

    chunk: Chunk
    descend: list[Step] | None = None


def plan(root: Node, budget: int) -> list[Step]:
    """Forward calls for the whole trie with at most ~`budget` new tokens per call where a split helps."""
    return _plan_children([root], 0, budget)


def _plan_children(nodes: Sequence[Node], past: int, budget: int) -> list[Step]:
    steps: list[Step] = []
    group: list[Node] = []
    for node in sorted(nodes, key=lambda n: n.size):
        if node.size <= budget or not node.children:
            if group and sum(n.size for n in group) + node.size > budget:
                steps.append(Step(pack(group, past)))
                group = []
            group.append(node)
        else:  # too big: its own tokens become the cached path, its children are planned behind it
            own = Node(node.tokens, ends=node.ends)
            own.size = len(node.tokens)
            below = _plan_children(list(node.children.values()), past + own.size, budget)
            steps.append(Step(pack([own], past), below))
    if group:
        steps.append(Step(pack(group, past)))
    return steps


def iter_chunks(steps: Sequence[Step]) -> Iterator[Chunk]:
    for step in steps:
        yield step.chunk
        if step.descend:
            yield from iter_chunks(step.descend)


def attention_masks(
    chunk: Chunk, *, dtype: torch.dtype, device: torch.device | str, sliding_window: int | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Additive (1, 1, L, past + L) masks: full attention, and sliding-window attention when asked.

    Token i sees token j of the chunk iff j <= i and i lies in the subtree of j's node; it sees every
    cached path token (the path is every chunk token's ancestor). Sliding layers also need
    position_i - position_j < window, as Hugging Face's sliding-window masks define it.
    """
    n, past = len(chunk.input_ids), chunk.past
    i = torch.arange(n, device=device)[:, None]
    j = torch.arange(n, device=device)[None, :]
    end = torch.tensor(chunk.subtree_end, device=device)[None, :]
    seen = torch.cat([torch.ones(n, past, dtype=torch.bool, device=device), (j <= i) & (i < end)], dim=1)
    blocked = torch.finfo(dtype).min
    full = torch.zeros(n, past + n, dtype=dtype, device=device).masked_fill_(~seen, blocked)
    if sliding_window is None:
        return full[None, None], None
    pos_q = torch.tensor(chunk.positions, device=device)[:, None]
    pos_k = torch.cat([torch.arange(past, device=device), pos_q[:, 0]])[None, :]
    near = seen & (pos_q - pos_k < sliding_window)
    sliding = torch.zeros_like(full).masked_fill_(~near, blocked)
    return full[None, None], sliding[None, None]


# -- batched pieces: fewer wasted attention pairs, no cache --------------------------------------------
def pieces(root: Node, budget: int) -> list[Chunk]:
    """Cut the trie into subtrees of about `budget` tokens, each packed behind a copy of its own path.

    A dense tree mask over L tokens costs L^2 attention pairs although each token sees only its path;
    cutting into pieces of size S (each a separate sequence of one batch) costs ~L*S instead, at the
    price of recomputing the shared path tokens once per piece. One batch of pieces is one forward call.
    """
    out: list[Chunk] = []
    _cut(root, [], budget, out)
    return out


def _cut(node: Node, path: list[int], budget: int, out: list[Chunk]) -> None:
    if len(path) + node.size <= budget or not node.children:
        chain = Node(path + node.tokens, children=dict(node.children), ends=node.ends)
        chain.size = len(path) + node.size
        out.append(pack([chain], 0))
        return
    if node.ends:  # prompts ending inside the path (never for leave-one-out tries; kept exact anyway)
        out.append(pack([Node(path + node.tokens, ends=node.ends, size=len(path) + len(node.tokens))], 0))
    for child in node.children.values():
        _cut(child, path + node.tokens, budget, out)


def batches(chunks: list[Chunk], max_tokens: int) -> list[list[Chunk]]:
    """Group pieces of similar length so that batch size x longest piece stays within `max_tokens`."""
    groups: list[list[Chunk]] = []
    for chunk in sorted(chunks, key=lambda c: len(c.input_ids)):
        group = groups[-1] if groups else None
        if group and (len(group) + 1) * len(chunk.input_ids) <= max_tokens:
            group.append(chunk)
        else:
            groups.append([chunk])
    return groups


def batch_masks(
    group: list[Chunk], *, dtype: torch.dtype, device: torch.device | str, sliding_window: int | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B, 1, L, L) additive masks for pieces right-padded to the longest; a pad row sees only itself."""
    width = max(len(c.input_ids) for c in group)
    blocked = torch.finfo(dtype).min
    full = torch.full((len(group), 1, width, width), blocked, dtype=dtype, device=device)
    full.diagonal(dim1=-2, dim2=-1).fill_(0)
    sliding = full.clone() if sliding_window is not None else None
    for b, chunk in enumerate(group):
        n = len(chunk.input_ids)
        f, s = attention_masks(chunk, dtype=dtype, device=device, sliding_window=sliding_window)
        full[b, 0, :n, :n] = f[0, 0]
        if sliding is not None and s is not None:
            sliding[b, 0, :n, :n] = s[0, 0]
    return full, sliding
