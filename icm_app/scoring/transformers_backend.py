"""In-process Hugging Face causal-LM backend: label log-odds by tree attention, shared prefixes or naively.

`mode="tree"` packs the trie of all prompts of a call into a few forward calls with a tree-shaped attention
mask (`tree_attention.py`); `mode="tree_batch"` cuts that trie into pieces that carry their own path and
runs them as one batch (less masked-out attention, some path tokens recomputed): the GPU paths.
`mode="prefix"` sorts prompts so shared demonstration prefixes
sit together, computes each shared prefix once, snapshots the KV cache where prompts branch, and keeps
snapshots in a byte-bounded LRU for later evaluations (one small forward call per trie node).
`mode="naive"` runs every prompt from scratch (the reference). All compute the same function of the same
token ids (equal up to floating-point rounding); only the two label words' logits at the last position
are formed, in float32.
"""

from __future__ import annotations

import copy
import inspect
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch

from . import tree_attention
from .prompts import Prompt

MODES = ("tree", "tree_batch", "prefix", "naive")
# Tokens per packed call: attention work grows with its square, call overhead with the number of calls.
# On one H100, 8192 beat 4096 and 16384 for tree (8B shape, N = 256: 4.5 s vs 6.3 s at 16384) and 2048
# and 4096 for tree_batch (270m shape, N = 64). Every tree call attends to the whole chunk, so a CPU,
# where attention is paid token by token, wants smaller chunks.
TREE_TOKENS = {"cuda": 8192, "cpu": 1024}


class ContextTooLongError(ValueError):
    """The query alone does not fit in the model's context window."""


class TransformersBackend:
    """Scores prompts with a loaded `transformers` model; counts tokens computed and forward calls."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        label_words: tuple[str, str],
        *,
        mode: str = "prefix",
        cache_mb: float = 2048,
        max_context: int | None = None,
        batch_size: int = 16,
        tree_tokens: int = 0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown scoring mode {mode!r}; valid: {', '.join(MODES)}")
        self.model, self.tokenizer, self.mode = model.eval(), tokenizer, mode
        self.base = model.base_model
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.tree_tokens = tree_tokens or TREE_TOKENS.get(self.device.type, TREE_TOKENS["cpu"])
        self._cache_arg = _cache_argument(self.base)
        self._sliding = _sliding_layout(model.config)
        self.label_ids = [self._single_token(w) for w in label_words]
        if self.label_ids[0] == self.label_ids[1]:
            raise ValueError(f"label words {label_words!r} start with the same token")
        head = model.get_output_embeddings()
        self._head_w = head.weight[self.label_ids].detach().float()  # (2, hidden) label rows, fp32
        bias = getattr(head, "bias", None)
        self._head_b = bias[self.label_ids].detach().float() if bias is not None else None
        self._softcap = getattr(model.config, "final_logit_softcapping", None)
        bos = tokenizer.bos_token_id
        self.prefix_ids: list[int] = [bos] if bos is not None else []
        self.max_context = max_context or _model_context(model, tokenizer)
        self.batch_size = max(1, batch_size)
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (tokenizer.eos_token_id or 0)
        self.cache_bytes_limit = int(cache_mb * 2**20)
        self._segment_ids: dict[str, tuple[int, ...]] = {}
        self._intern: dict[tuple[int, ...], int] = {}
        self._memo: OrderedDict[tuple[int, ...], float] = OrderedDict()
        self._lru: OrderedDict[int, tuple[tuple[int, ...], Any, int]] = OrderedDict()
        self._lru_bytes = 0
        self.tokens_processed = 0
        self.forward_calls = 0
        self.seconds = 0.0
        self.dropped_demos = 0

    # -- tokens ------------------------------------------------------------------------------------
    def _single_token(self, word: str) -> int:
        ids = self.tokenizer.encode(word, add_special_tokens=False)
        if not ids:
            raise ValueError(f"label word {word!r} is empty after tokenization")
        return ids[0]

    def _tokens(self, text: str) -> tuple[int, ...]:
        ids = self._segment_ids.get(text)
        if ids is None:
            ids = tuple(self.tokenizer.encode(text, add_special_tokens=False))
            self._segment_ids[text] = ids
            self._intern.setdefault(ids, len(self._intern))
        return ids

    def _fit(self, prompt: Prompt) -> list[tuple[int, ...]]:
        """Token segments of a prompt; drops whole demonstrations from the front, never cuts the query."""
        segs = [self._tokens(s) for s in prompt]
        budget = self.max_context - len(self.prefix_ids)
        if len(segs[-1]) > budget:
            raise ContextTooLongError(
                f"a query of {len(segs[-1])} tokens does not fit the model's context of {self.max_context}"
            )
        total = sum(map(len, segs))
        while total > budget:
            total -= len(segs.pop(0))
            self.dropped_demos += 1
        return segs

    def naive_tokens(self, prompts: Sequence[Prompt]) -> int:
        """Tokens the naive mode would compute for these prompts (counted, not run)."""
        return sum(len(self.prefix_ids) + sum(map(len, self._fit(p))) for p in prompts)

    # -- model -------------------------------------------------------------------------------------
    @torch.inference_mode()
    def _forward(self, ids: Sequence[int], cache: Any) -> torch.Tensor:
        out = self.base(
            input_ids=torch.tensor([list(ids)], device=self.device),
            use_cache=cache is not None,
            **{self._cache_arg: cache},
        )
        self.tokens_processed += len(ids)
        self.forward_calls += 1
        return out.last_hidden_state[0, -1]

    def _logodds(self, hidden: torch.Tensor) -> float:
        return self._logodds_rows(hidden[None])[0]

    def _logodds_rows(self, hidden: torch.Tensor) -> list[float]:
        """(rows, hidden) final hidden states -> label-1 minus label-0 logits, computed in float32."""
        logits = hidden.float() @ self._head_w.T
        if self._head_b is not None:
            logits = logits + self._head_b
        if self._softcap:
            logits = torch.tanh(logits / self._softcap) * self._softcap
        return (logits[:, 0] - logits[:, 1]).tolist()

    def _new_cache(self) -> Any:
        from transformers import DynamicCache

        return DynamicCache(config=self.model.config)

    # -- public ------------------------------------------------------------------------------------
    def logodds(self, prompts: Sequence[Prompt]) -> list[float]:
        start = time.perf_counter()
        fitted = [self._fit(p) for p in prompts]
        if self.mode == "naive":
            result = [
                self._logodds(self._forward(self.prefix_ids + [t for s in f for t in s], None))
                for f in fitted
            ]
        elif self.mode in ("tree", "tree_batch"):
            result = self._tree_scores(fitted)
        else:
            result = self._prefix_scores(fitted)
        self.seconds += time.perf_counter() - start
        return result

    # -- tree attention ----------------------------------------------------------------------------
    def _tree_scores(self, fitted: list[list[tuple[int, ...]]]) -> list[float]:
        keys = [tuple(self._intern[s] for s in f) for f in fitted]
        todo = {k: f for k, f in zip(keys, fitted) if k not in self._memo}
        if todo:
            order = list(todo)
            root = tree_attention.build_trie(self.prefix_ids, [list(zip(k, todo[k])) for k in order])
            if self.mode == "tree":
                from transformers import DynamicCache

                # full-length layers everywhere: sliding layers see their window through the mask instead
                scores = self._run_steps(tree_attention.plan(root, self.tree_tokens), DynamicCache())
            else:
                longest = len(self.prefix_ids) + max(sum(map(len, f)) for f in todo.values())
                scores = self._run_pieces(root, max(self.tree_tokens, 2 * longest))
            for p, value in scores:
                self._remember(order[p], value)
        return [self._memo[k] for k in keys]

    @torch.inference_mode()
    def _run_pieces(self, root: tree_attention.Node, budget: int) -> list[tuple[int, float]]:
        """The trie cut into pieces that carry their own path, run as batches: no cache, few calls."""
        scores: list[tuple[int, float]] = []
        for group in tree_attention.batches(tree_attention.pieces(root, budget), 4 * budget):
            width = max(len(c.input_ids) for c in group)
            full, sliding = tree_attention.batch_masks(
                group, dtype=self.dtype, device=self.device, sliding_window=self._sliding[0]
            )
            ids = [c.input_ids + [self.pad_id] * (width - len(c.input_ids)) for c in group]
            pos = [c.positions + [0] * (width - len(c.positions)) for c in group]
            out = self.base(
                input_ids=torch.tensor(ids, device=self.device),
                position_ids=torch.tensor(pos, device=self.device),
                attention_mask=self._mask(full, sliding),
                use_cache=False,
            )
            self.tokens_processed += sum(len(c.input_ids) for c in group)
            self.forward_calls += 1
            reads = [(b, p, t) for b, c in enumerate(group) for p, t in c.reads]
            rows = out.last_hidden_state[[b for b, _, _ in reads], [t for _, _, t in reads]]
            scores += zip([p for _, p, _ in reads], self._logodds_rows(rows))
        return scores

    def _mask(self, full: torch.Tensor, sliding: torch.Tensor | None) -> Any:
        """What the model takes as `attention_mask`: one tensor, or one per layer type when they mix."""
        if self._sliding[1]:
            return {"full_attention": full, "sliding_attention": sliding}
        return sliding if sliding is not None else full

    @torch.inference_mode()
    def _run_steps(self, steps: list[tree_attention.Step], cache: Any) -> list[tuple[int, float]]:
        """Run packed chunks depth-first; the cache holds exactly the current path between calls."""
        scores: list[tuple[int, float]] = []
        for step in steps:
            chunk = step.chunk
            if chunk.input_ids:
                hidden = self._forward_chunk(chunk, cache)
                rows = hidden[[t for _, t in chunk.reads]]
                scores += zip([p for p, _ in chunk.reads], self._logodds_rows(rows))
            if step.descend:
                scores += self._run_steps(step.descend, cache)
            extra = cache.get_seq_length() - chunk.past
            if extra > 0:
                cache.crop(-extra)  # negative: drop that many (the form every transformers version takes)
        return scores

    def _forward_chunk(self, chunk: tree_attention.Chunk, cache: Any) -> torch.Tensor:
        full, sliding = tree_attention.attention_masks(
            chunk, dtype=self.dtype, device=self.device, sliding_window=self._sliding[0]
        )
        out = self.base(
            input_ids=torch.tensor([chunk.input_ids], device=self.device),
            position_ids=torch.tensor([chunk.positions], device=self.device),
            attention_mask=self._mask(full, sliding),
            use_cache=True,
            **{self._cache_arg: cache},
        )
        self.tokens_processed += len(chunk.input_ids)
        self.forward_calls += 1
        return out.last_hidden_state[0]

    # -- prefix sharing ----------------------------------------------------------------------------
    def _prefix_scores(self, fitted: list[list[tuple[int, ...]]]) -> list[float]:
        keys = [tuple(self._intern[s] for s in f) for f in fitted]
        todo = sorted({k for k in keys if k not in self._memo})
        segs = {tuple(self._intern[s] for s in f): f for f in fitted}
        lcp = [_common_prefix(a, b) for a, b in zip(todo, todo[1:])] + [0]
        stack: list[tuple[int, Any]] = []  # (depth, cache snapshot) along the current prompt's prefix
        prev_lcp, k = 0, 0
        while k < len(todo):
            key = todo[k]
            while stack and stack[-1][0] > prev_lcp:
                self._store(todo[k - 1][: stack[-1][0]], stack.pop()[1])
            depth, cache = self._start(key, stack)
            for b in _branch_depths(lcp, k, depth):
                self._forward([t for s in segs[key][depth:b] for t in s], cache)
                stack.append((b, copy.deepcopy(cache)))
                depth = b
            group = self._leaf_group(todo, lcp, k, depth)
            tails = [[t for s in segs[todo[j]][depth:] for t in s] for j in group]
            for j, hidden in zip(group, self._forward_batch(tails, cache)):
                self._remember(todo[j], self._logodds(hidden))
            k = group[-1] + 1
            prev_lcp = lcp[group[-1]]
        for depth, cache in stack:
            self._store(todo[-1][:depth], cache)
        return [self._memo[k] for k in keys]

    def _leaf_group(self, todo: list[tuple[int, ...]], lcp: list[int], k: int, depth: int) -> list[int]:
        """Prompt k and the following ones that continue from the same cache at `depth` with nothing left
        to share: they run as one right-padded batch (padding after the last token cannot change it)."""
        group = [k]
        if lcp[k] > depth:
            return group
        while len(group) < self.batch_size and group[-1] + 1 < len(todo):
            j = group[-1] + 1
            if lcp[j - 1] != depth or lcp[j] > depth or self._lru_lookup(todo[j], depth) is not None:
                break
            group.append(j)
        return group

    def _forward_batch(self, seqs: list[list[int]], cache: Any) -> list[torch.Tensor]:
        if len(seqs) == 1:
            return [self._forward(seqs[0], cache)]
        width = max(map(len, seqs))
        ids = torch.tensor([s + [self.pad_id] * (width - len(s)) for s in seqs], device=self.device)
        cache.batch_repeat_interleave(len(seqs))
        with torch.inference_mode():
            out = self.base(input_ids=ids, use_cache=True, **{self._cache_arg: cache})
        self.tokens_processed += len(seqs) * width
        self.forward_calls += 1
        return [out.last_hidden_state[b, len(s) - 1] for b, s in enumerate(seqs)]

    def _lru_lookup(self, key: tuple[int, ...], above: int) -> tuple[int, Any] | None:
        """The deepest cached prefix of `key` deeper than `above` segments (never the whole prompt)."""
        for d in range(len(key) - 1, above, -1):
            hit = self._lru.get(hash(key[:d]))
            if hit is not None and hit[0] == key[:d]:
                self._lru.move_to_end(hash(key[:d]))
                return d, hit[1]
        return None

    def _start(self, key: tuple[int, ...], stack: list[tuple[int, Any]]) -> tuple[int, Any]:
        """The deepest reusable cache for `key`: the branch stack, the LRU, or a fresh one after BOS."""
        hit = self._lru_lookup(key, stack[-1][0] if stack else -1)
        if hit is not None:
            return hit[0], copy.deepcopy(hit[1])
        if stack:
            return stack[-1][0], copy.deepcopy(stack[-1][1])
        cache = self._new_cache()
        if self.prefix_ids:
            self._forward(self.prefix_ids, cache)
        self._store((), copy.deepcopy(cache))
        return 0, cache

    def _store(self, prefix: tuple[int, ...], cache: Any) -> None:
        if self.cache_bytes_limit <= 0:
            return
        h = hash(prefix)
        if h in self._lru:
            self._lru.move_to_end(h)
            return
        size = _cache_bytes(cache)
        self._lru[h] = (prefix, cache, size)
        self._lru_bytes += size
        while self._lru_bytes > self.cache_bytes_limit and self._lru:
            _, (_, _, freed) = self._lru.popitem(last=False)
            self._lru_bytes -= freed

    def _remember(self, key: tuple[int, ...], value: float) -> None:
        self._memo[key] = value
        if len(self._memo) > 200_000:
            self._memo.popitem(last=False)

    def clear(self) -> None:
        """Forget every cached prefix and score (e.g. after the model changes)."""
        self._memo.clear()
        self._lru.clear()
        self._lru_bytes = 0


def _branch_depths(lcp: list[int], k: int, depth: int) -> list[int]:
    """Depths beyond `depth` where later (sorted) prompts leave prompt k's path: where to snapshot."""
    branches: list[int] = []
    m = lcp[k]
    for j in range(k, len(lcp)):
        m = min(m, lcp[j])
        if m <= depth:
            break
        if not branches or branches[-1] != m:
            branches.append(m)
    return sorted(branches)


def _common_prefix(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _cache_bytes(cache: Any) -> int:
    total = 0
    for layer in getattr(cache, "layers", []):
        for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()
    return total


def _cache_argument(base: Any) -> str:
    """`cache` in current transformers; `past_key_values` before the rename (deprecated, removed in 5.40)."""
    params = inspect.signature(base.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _sliding_layout(config: Any) -> tuple[int | None, bool]:
    """(sliding window or None, whether layers mix sliding and full attention and take a mask per type)."""
    window = getattr(config, "sliding_window", None)
    types = getattr(config, "layer_types", None)
    if not window or (types is not None and "sliding_attention" not in types):
        return None, False
    return int(window), types is not None and "full_attention" in types


def _model_context(model: Any, tokenizer: Any) -> int:
    n = getattr(model.config, "max_position_embeddings", None)
    tok_n = getattr(tokenizer, "model_max_length", None)
    candidates = [x for x in (n, tok_n) if isinstance(x, int) and 0 < x < 10**7]
    return min(candidates) if candidates else 2048
