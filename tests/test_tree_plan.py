"""The tree-attention plan, without a model: executing it with a stack of cached tokens and its masks must
show each prompt's last token exactly that prompt's tokens, at positions 0..len-1, whatever the budget.

Catches: a token seeing a sibling subtree, a missed ancestor, wrong position ids, a prompt read twice or
never, a cache not cropped back between chunks, a sliding mask that ignores positions.
"""

from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")

from icm_app.scoring import tree_attention as ta  # noqa: E402


def random_prompts(rnd: random.Random, n: int) -> list[list[tuple[int, list[int]]]]:
    """Prompts as segment lists drawn from a small pool, so that they share prefixes and branch."""
    pool = {k: [rnd.randint(10, 99) for _ in range(rnd.randint(1, 5))] for k in range(6)}
    prompts, seen = [], set()
    while len(prompts) < n:
        keys = tuple(rnd.choice(range(5)) for _ in range(rnd.randint(0, 4))) + (5 + len(prompts) * 10,)
        if keys in seen:
            continue
        seen.add(keys)
        pool.setdefault(keys[-1], [rnd.randint(10, 99) for _ in range(rnd.randint(1, 3))])
        prompts.append([(k, pool[k]) for k in keys])
    return prompts


def execute(steps: list[ta.Step], window: int | None, cache: list | None = None) -> dict[int, list]:
    """Run the plan on a 'cache' of (position, token) pairs; return what each read position attends to."""
    cache = [] if cache is None else cache
    saved = list(cache)
    seen: dict[int, list[tuple[int, int]]] = {}
    for step in steps:
        chunk = step.chunk
        assert len(cache) == chunk.past, "the cache must hold exactly the path before a chunk"
        full, sliding = ta.attention_masks(chunk, dtype=torch.float32, device="cpu", sliding_window=window)
        mask = (sliding if window else full)[0, 0] == 0
        keys = cache + list(zip(chunk.positions, chunk.input_ids))
        for p, t in chunk.reads:
            assert p not in seen, "a prompt is read twice"
            seen[p] = [k for k, ok in zip(keys, mask[t].tolist()) if ok]
        cache += list(zip(chunk.positions, chunk.input_ids))
        if step.descend:
            below = execute(step.descend, window, cache)
            assert not set(below) & set(seen), "a prompt is read twice"
            seen.update(below)
        del cache[chunk.past :]
    assert cache == saved, "the cache is cropped back to the path it started with"
    return seen


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("budget", [1, 7, 30, 10_000])
@pytest.mark.parametrize("window", [None, 4])
def test_each_prompt_sees_exactly_its_own_tokens(seed, budget, window):
    rnd = random.Random(seed)
    prompts = random_prompts(rnd, rnd.randint(1, 12))
    bos = [1]
    steps = ta.plan(ta.build_trie(bos, prompts), budget)
    seen = execute(steps, window)
    assert sorted(seen) == list(range(len(prompts))), "every prompt is read once"
    for p, segments in enumerate(prompts):
        tokens = bos + [t for _, seg in segments for t in seg]
        expect = list(enumerate(tokens))
        if window:
            expect = [(pos, t) for pos, t in expect if len(tokens) - 1 - pos < window]
        assert sorted(seen[p]) == expect, p


def test_budget_bounds_chunks_that_can_be_split():
    rnd = random.Random(0)
    prompts = random_prompts(rnd, 40)
    root = ta.build_trie([1], prompts)
    one = ta.plan(root, 10_000)
    assert len(one) == 1 and one[0].descend is None and len(one[0].chunk.input_ids) == root.size
    for budget in (8, 20, 60):
        for chunk in ta.iter_chunks(ta.plan(root, budget)):
            assert len(chunk.input_ids) <= max(budget, max(map(len, _node_runs(root))))


def _node_runs(node: ta.Node):
    yield node.tokens
    for child in node.children.values():
        yield from _node_runs(child)


def test_chains_are_merged_and_sizes_count_every_token():
    prompts = [[(0, [5, 6]), (1, [7]), (2, [8])], [(0, [5, 6]), (1, [7]), (3, [9, 9])]]
    root = ta.build_trie([1], prompts)
    assert root.tokens == [1, 5, 6, 7] and len(root.children) == 2
    assert root.size == 4 + 1 + 2


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("budget", [1, 9, 30, 10_000])
@pytest.mark.parametrize("window", [None, 4])
def test_each_piece_read_sees_exactly_its_prompt(seed, budget, window):
    """The batched layout: every prompt read once, in a piece whose mask shows exactly its own tokens."""
    rnd = random.Random(seed)
    prompts = random_prompts(rnd, rnd.randint(1, 12))
    bos = [1]
    chunks = ta.pieces(ta.build_trie(bos, prompts), budget)
    groups = ta.batches(chunks, 4 * budget)
    assert sorted(c for g in groups for c in map(id, g)) == sorted(map(id, chunks))
    seen: dict[int, list[tuple[int, int]]] = {}
    for group in groups:
        full, sliding = ta.batch_masks(group, dtype=torch.float32, device="cpu", sliding_window=window)
        width = max(len(c.input_ids) for c in group)
        assert len(group) == 1 or len(group) * width <= 4 * budget
        for b, chunk in enumerate(group):
            mask = (sliding if window else full)[b, 0] == 0
            keys = list(zip(chunk.positions, chunk.input_ids))
            for p, t in chunk.reads:
                assert p not in seen
                seen[p] = [k for k, ok in zip(keys, mask[t, : len(keys)].tolist()) if ok]
                assert not mask[t, len(keys) :].any(), "a read must not see padding"
    assert sorted(seen) == list(range(len(prompts)))
    for p, segments in enumerate(prompts):
        tokens = bos + [t for _, seg in segments for t in seg]
        expect = [(pos, t) for pos, t in enumerate(tokens) if not window or len(tokens) - 1 - pos < window]
        assert sorted(seen[p]) == expect, p
