"""TransformersBackend on tiny randomly initialised models built here (no downloads, CPU, seconds).

A character-level tokenizer (with " True"/" False" as single added tokens) and two tiny causal LMs:
Llama (full attention) and Gemma-3 (sliding-window layers of 16 tokens mixed with full attention, and
logit soft-capping), so that prompts of a few hundred tokens exercise sliding-window caches.
The prefix-sharing mode must give the naive mode's scores on every evaluation, with fewer tokens.
"""

from __future__ import annotations

import random
import warnings

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from conftest import tiny_tokenizer  # noqa: E402

from icm_app.core.annealing import Annealer  # noqa: E402
from icm_app.core.config import SearchConfig  # noqa: E402
from icm_app.core.consistency import group_members  # noqa: E402
from icm_app.core.context import shuffled_order  # noqa: E402
from icm_app.core.objective import Objective  # noqa: E402
from icm_app.core.types import Example, Query  # noqa: E402
from icm_app.scoring.prompts import PromptScorer  # noqa: E402
from icm_app.scoring.transformers_backend import ContextTooLongError, TransformersBackend  # noqa: E402
from icm_app.tasks.presets import TaskSpec  # noqa: E402

WORDS = (" True", " False")
TASK = TaskSpec(name="tiny", template="Q: {q}\nA:", label_words=WORDS, separator="\n")
N = 10
EXACT = 1e-4  # prefix vs naive; float32 noise is ~1e-6 at these score scales
CHANGED = 2e-5  # a real change of context moves scores by >= 1e-4 on these models


# -- tiny tokenizer and models ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer(WORDS)


def _llama(vocab_size: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        initializer_range=0.3,  # larger than default so that label log-odds vary visibly
    )
    return LlamaForCausalLM(config).float().eval()


def _gemma(vocab_size: int):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=4,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        sliding_window=16,
        layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
        max_position_embeddings=512,
        initializer_range=0.3,
        final_logit_softcapping=30.0,
    )
    model = Gemma3ForCausalLM(config).float().eval()
    assert model.config.sliding_window == 16
    return model


BUILDERS = {"llama": _llama, "gemma_sliding": _gemma}
_MODELS: dict[str, object] = {}


@pytest.fixture(params=sorted(BUILDERS))
def model(request, tokenizer):
    if request.param not in _MODELS:
        _MODELS[request.param] = BUILDERS[request.param](len(tokenizer))
    return _MODELS[request.param]


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    rnd = random.Random(0)
    words = "cat dog sun moon red blue tree rock fish bird".split()
    return [
        Example(
            i, {"q": " ".join(rnd.choice(words) for _ in range(rnd.randint(2, 4)))}, str(i // 2), str(i % 3)
        )
        for i in range(N)
    ]


def backend(model, tokenizer, **kw) -> TransformersBackend:
    return TransformersBackend(model, tokenizer, WORDS, **kw)


def objective(examples, be, **cfg) -> Objective:
    scorer = PromptScorer(examples, TASK, be)
    return Objective(
        scorer,
        SearchConfig(**cfg),
        order=shuffled_order([e.idx for e in examples], 0),
        groups=group_members(examples),
        rules=(),
    )


def label_sequence(seed: int, steps: int):
    """Random label sets, then a walk of flips, additions, removals and repeats (as a search makes)."""
    rnd = random.Random(seed)
    labels = {i: rnd.randint(0, 1) for i in rnd.sample(range(N), rnd.randint(2, N))}
    yield dict(labels)
    for _ in range(steps):
        op = rnd.choice(["flip", "flip", "add", "remove", "repeat", "fresh"])
        if op == "flip":
            i = rnd.choice(sorted(labels))
            labels[i] = 1 - labels[i]
        elif op == "add" and len(labels) < N:
            labels[rnd.choice([i for i in range(N) if i not in labels])] = rnd.randint(0, 1)
        elif op == "remove" and len(labels) > 2:
            labels.pop(rnd.choice(sorted(labels)))
        elif op == "fresh":
            labels = {i: rnd.randint(0, 1) for i in rnd.sample(range(N), rnd.randint(2, N))}
        yield dict(labels)


PREFIX_CONFIGS = [
    {"cache_mb": 2048, "batch_size": 16},
    {"cache_mb": 0.05, "batch_size": 1},  # a cache of a few prefixes: evictions
    {"cache_mb": 0, "batch_size": 3},  # no cross-evaluation cache at all
]


# -- (a) exactness -----------------------------------------------------------------------------------
@pytest.mark.parametrize("calibrate", [False, True])
def test_prefix_scores_equal_naive_scores_over_a_search_like_walk(model, tokenizer, examples, calibrate):
    naive = objective(examples, backend(model, tokenizer, mode="naive"), calibrate=calibrate)
    prefixed = [
        objective(examples, backend(model, tokenizer, mode="prefix", **kw), calibrate=calibrate)
        for kw in PREFIX_CONFIGS
    ]
    spread = []
    for labels in label_sequence(seed=1 + calibrate, steps=8):
        targets = sorted(labels)
        reference = naive.logodds(labels, targets)
        spread += list(reference.values())
        for obj, kw in zip(prefixed, PREFIX_CONFIGS):
            got = obj.logodds(labels, targets)
            assert list(got) == targets
            assert [got[t] for t in targets] == pytest.approx([reference[t] for t in targets], abs=EXACT), kw
    assert max(spread) - min(spread) > 0.1, "scores must vary, or the comparison proves nothing"


def test_annealer_with_pins_and_rules_sees_identical_scores(model, tokenizer, examples):
    """Every batch of queries a real search sends (ConsistencyFix trials, pins, content-free queries)
    is scored by the prefix backend and by a naive one; they must agree call by call."""

    class Dual:
        def __init__(self) -> None:
            self.prefix = PromptScorer(examples, TASK, backend(model, tokenizer, mode="prefix", cache_mb=0.2))
            self.naive = PromptScorer(examples, TASK, backend(model, tokenizer, mode="naive"))
            self.calls = 0

        def score(self, queries):
            got, want = self.prefix.score(queries), self.naive.score(queries)
            assert got == pytest.approx(want, abs=EXACT)
            self.calls += 1
            return got

    dual = Dual()
    config = SearchConfig(iterations=6, k_init=4, fix_rounds=2, calibrate=True, seed=3)
    a = Annealer(examples, dual, config, rules=("exclusive",))
    a.pin(0, 1)
    a.pin(7, 0)
    for _ in range(6):
        a.step()
    assert a.labels[0] == 1 and a.labels[7] == 0
    assert dual.calls >= 4
    assert dual.prefix.backend.tokens_processed < dual.naive.backend.tokens_processed


def test_backend_matches_the_models_own_next_token_logits(model, tokenizer, examples):
    """The label-word head (incl. Gemma's soft-capping) gives what the full LM head gives."""
    be = backend(model, tokenizer, mode="naive")
    scorer = PromptScorer(examples, TASK, be)
    query = Query(((3, 1), (5, 0), (1, 1)), 8)
    ids = [tokenizer.bos_token_id] + tokenizer.encode(scorer.render_full(query), add_special_tokens=False)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
    true_id, false_id = (tokenizer.convert_tokens_to_ids(w) for w in WORDS)
    expected = float(logits[true_id] - logits[false_id])
    assert scorer.score([query])[0] == pytest.approx(expected, abs=EXACT)


# -- (b) fewer tokens ------------------------------------------------------------------------------------
def test_prefix_mode_computes_fewer_tokens_than_naive(model, tokenizer, examples):
    labels = {i: i % 2 for i in range(N)}
    counts = {}
    for mode in ("naive", "prefix"):
        be = backend(model, tokenizer, mode=mode)
        objective(examples, be).evaluate(labels)
        counts[mode] = be.tokens_processed
    assert counts["prefix"] < 0.6 * counts["naive"], counts

    # a repeated evaluation costs nothing more; a one-label change costs less than the first one did
    be = backend(model, tokenizer, mode="prefix")
    obj = objective(examples, be)
    obj.evaluate(labels)
    first = be.tokens_processed
    obj.evaluate(dict(labels))
    assert be.tokens_processed == first
    obj.evaluate({**labels, 4: 1 - labels[4]})
    assert 0 < be.tokens_processed - first < first


def test_prefix_mode_is_cheaper_over_a_whole_walk(model, tokenizer, examples):
    totals = {}
    for mode in ("naive", "prefix"):
        be = backend(model, tokenizer, mode=mode)
        obj = objective(examples, be)
        for labels in label_sequence(seed=7, steps=6):
            obj.evaluate(labels)
        totals[mode] = be.tokens_processed
    assert totals["prefix"] < totals["naive"] / 2, totals


# -- (c) cache invalidation ----------------------------------------------------------------------------
@pytest.mark.parametrize("flip", [0, 5, 9])
def test_flipped_label_is_never_served_from_a_stale_cache(model, tokenizer, examples, flip):
    labels = {i: (i * 7) % 3 % 2 for i in range(N)}
    flipped = {**labels, flip: 1 - labels[flip]}
    be = backend(model, tokenizer, mode="prefix")
    obj = objective(examples, be)
    targets = list(range(N))
    before = obj.logodds(labels, targets)
    after = obj.logodds(flipped, targets)
    fresh = objective(examples, backend(model, tokenizer, mode="naive")).logodds(flipped, targets)
    assert [after[t] for t in targets] == pytest.approx([fresh[t] for t in targets], abs=EXACT)
    for t in targets:
        context = dict(_context(obj, flipped, t))
        if flip in context:
            assert abs(after[t] - before[t]) > CHANGED, f"query {t} still scored with the old label"
        else:
            assert t == flip
            assert after[t] == pytest.approx(before[t], abs=EXACT)
    # and flipping back returns exactly the first scores (from the memo or recomputed)
    assert [obj.logodds(labels, targets)[t] for t in targets] == pytest.approx(
        [before[t] for t in targets], abs=EXACT
    )


def _context(obj: Objective, labels, target):
    from icm_app.core.context import loo_context

    return loo_context(obj.order, obj.position, labels, target)


def test_clear_forgets_everything_and_scores_stay_the_same(model, tokenizer, examples):
    be = backend(model, tokenizer, mode="prefix")
    obj = objective(examples, be)
    labels = {i: i % 2 for i in range(0, N, 2)}
    first = obj.logodds(labels, sorted(labels))
    used = be.tokens_processed
    be.clear()
    again = obj.logodds(labels, sorted(labels))
    assert be.tokens_processed > used, "after clear() the scores are recomputed"
    assert list(again.values()) == pytest.approx(list(first.values()), abs=EXACT)


def test_same_tokens_share_scores_across_scorers_but_different_templates_do_not(model, tokenizer, examples):
    be = backend(model, tokenizer, mode="prefix")
    other = TaskSpec(name="other", template="Q: {q}\nB:", label_words=WORDS, separator="\n")
    q = Query(((2, 1), (3, 0)), 4)
    a = PromptScorer(examples, TASK, be).score([q])[0]
    b = PromptScorer(examples, other, be).score([q])[0]
    naive_b = PromptScorer(examples, other, backend(model, tokenizer, mode="naive")).score([q])[0]
    assert b == pytest.approx(naive_b, abs=EXACT)
    assert abs(a - b) > CHANGED


# -- (d) truncation ----------------------------------------------------------------------------------------
def test_fit_drops_whole_demonstrations_from_the_front(model, tokenizer):
    be = backend(model, tokenizer, max_context=12)  # budget 11 after BOS
    assert be.prefix_ids == [tokenizer.bos_token_id]
    fitted = be._fit(("aaaa", "bbbb", "cccc", "qqq"))
    assert [len(s) for s in fitted] == [4, 4, 3] and be.dropped_demos == 1
    assert fitted[-1] == tuple(tokenizer.encode("qqq", add_special_tokens=False))
    fitted = be._fit(("aaaaa", "b", "qqqqqqqqqq"))
    assert [len(s) for s in fitted] == [1, 10] and be.dropped_demos == 2
    fitted = be._fit(("aa", "q" * 11))  # the query alone fills the budget exactly
    assert [len(s) for s in fitted] == [11] and be.dropped_demos == 3
    with pytest.raises(ContextTooLongError, match="12"):
        be._fit(("aa", "q" * 12))
    with pytest.raises(ContextTooLongError):
        be.logodds([("q" * 40,)])


def test_fit_keeps_the_longest_suffix_of_demonstrations_that_fits(model, tokenizer):
    rnd = random.Random(0)
    for _ in range(200):
        max_context = rnd.randint(5, 60)
        be = backend(model, tokenizer, max_context=max_context)
        budget = max_context - 1
        demos = ["d" * rnd.randint(1, 15) for _ in range(rnd.randint(0, 8))]
        query = "q" * rnd.randint(1, budget)
        fitted = be._fit((*demos, query))
        kept = len(fitted) - 1
        assert [len(s) for s in fitted] == [len(d) for d in demos[len(demos) - kept :]] + [len(query)]
        assert sum(map(len, fitted)) <= budget
        if kept < len(demos):  # one more demonstration would not have fitted
            assert sum(map(len, fitted)) + len(demos[len(demos) - kept - 1]) > budget
        assert be.dropped_demos == len(demos) - kept


def test_truncated_prompts_score_as_the_kept_part_alone(model, tokenizer, examples):
    scorer = PromptScorer(examples, TASK, backend(model, tokenizer, mode="naive"))
    query = Query(tuple((i, i % 2) for i in range(1, 9)), 0)
    prompt = scorer.prompt(query)
    lengths = [len(tokenizer.encode(s, add_special_tokens=False)) for s in prompt]
    keep = 3
    max_context = 1 + sum(lengths[-keep - 1 :]) + 2  # room for 3 demos + query (+2 spare, < next demo)
    assert lengths[-keep - 2] > 2
    for mode in ("naive", "prefix"):
        short = backend(model, tokenizer, mode=mode, max_context=max_context)
        got = short.logodds([prompt])[0]
        assert short.dropped_demos == len(prompt) - 1 - keep
        want = backend(model, tokenizer, mode="naive").logodds([prompt[-keep - 1 :]])[0]
        assert got == pytest.approx(want, abs=EXACT), mode


def test_prefix_equals_naive_when_contexts_are_truncated(model, tokenizer, examples):
    naive_be = backend(model, tokenizer, mode="naive", max_context=120)
    prefix_be = backend(model, tokenizer, mode="prefix", max_context=120, cache_mb=0.1, batch_size=4)
    naive, prefixed = objective(examples, naive_be), objective(examples, prefix_be)
    for labels in label_sequence(seed=11, steps=5):
        targets = sorted(labels)
        want = naive.logodds(labels, targets)
        got = prefixed.logodds(labels, targets)
        assert [got[t] for t in targets] == pytest.approx([want[t] for t in targets], abs=EXACT)
    assert naive_be.dropped_demos > 0 and prefix_be.dropped_demos > 0


# -- (e) label words ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("words", [("Yes", "Yellow"), (" True", " True!"), ("ab", "ac")])
def test_label_words_sharing_their_first_token_are_rejected(tokenizer, words):
    model = _MODELS.get("llama") or _llama(len(tokenizer))
    _MODELS["llama"] = model
    with pytest.raises(ValueError, match="same token"):
        TransformersBackend(model, tokenizer, words)


def test_empty_label_word_and_unknown_mode_are_rejected(tokenizer):
    model = _MODELS.get("llama") or _llama(len(tokenizer))
    _MODELS["llama"] = model
    with pytest.raises(ValueError, match="empty"):
        TransformersBackend(model, tokenizer, ("", " False"))
    with pytest.raises(ValueError, match="mode"):
        TransformersBackend(model, tokenizer, WORDS, mode="fast")


# -- icm bench on the tiny model ------------------------------------------------------------------
@pytest.fixture
def tiny_folder(tokenizer, tmp_path):
    """The tiny Llama saved as a local model folder, and a 10-row data file for it."""
    import json as _json

    folder = tmp_path / "tiny"
    _llama(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(_json.dumps({"q": f"item {i} {'ab' * i}"}) + "\n" for i in range(10)))
    return str(folder), str(data)


def _bench(tiny_folder, dtype="auto", **kw):
    from icm_app.bench import run_bench
    from icm_app.scoring.models import ScorerConfig

    folder, data = tiny_folder
    scorer = ScorerConfig(model=folder, dtype=dtype)
    return run_bench(data, TASK, n=10, scorer=scorer, progress=lambda _m: None, **kw)


def test_bench_replays_the_trajectory_with_each_mode_and_naively(tiny_folder):
    full = _bench(tiny_folder, iterations=8, modes=("tree", "prefix"))
    assert [p.mode for p in full.phases] == ["tree", "prefix", "naive"]
    assert len(full.naive.us) == full.evaluations > 1 and not full.naive.extrapolated
    for mode in ("tree", "prefix"):
        assert full.phase(mode).du_fp32 < 1e-3 and full.phase(mode).tokens < full.naive.tokens
        assert sorted(full.phase(mode).us) == sorted(full.naive.us), "the same evaluations, replayed"
    assert full.phase("tree").forward_calls < full.phase("prefix").forward_calls
    sampled = _bench(tiny_folder, iterations=8, modes=("tree",), naive_sample=1)
    assert len(sampled.naive.us) == 1 and sampled.naive.extrapolated
    assert sampled.naive.tokens == full.naive.tokens, "tokens not run are counted exactly"
    assert "~" in sampled.table() and "calls per evaluation" in full.table()


def test_bench_measures_a_lower_dtype_against_a_float32_copy(tiny_folder):
    report = _bench(tiny_folder, dtype="bfloat16", iterations=3, modes=("tree",))
    assert report.dtype == "bfloat16" and "float32 copy" in report.reference
    drift = report.phase("tree").du_fp32
    assert drift is not None and 0 < drift < 5, "bf16 rounding is visible but bounded"


def test_bench_honours_k_init(tiny_folder):
    report = _bench(tiny_folder, iterations=2, k_init=64)
    assert report.k_init == 10 and "labeled at start 10" in report.table()


# -- tree attention ------------------------------------------------------------------------------------
TREE_BUDGETS = [1, 40, 100_000]  # every node alone / several chunks or pieces / one call


@pytest.mark.parametrize("mode", ["tree", "tree_batch"])
@pytest.mark.parametrize("budget", TREE_BUDGETS)
@pytest.mark.parametrize("calibrate", [False, True])
def test_tree_scores_equal_naive_scores_over_a_search_like_walk(
    model, tokenizer, examples, calibrate, budget, mode
):
    naive = objective(examples, backend(model, tokenizer, mode="naive"), calibrate=calibrate)
    be = backend(model, tokenizer, mode=mode, tree_tokens=budget)
    tree = objective(examples, be, calibrate=calibrate)
    for labels in label_sequence(seed=3 + calibrate, steps=5):
        targets = sorted(labels)
        want, got = naive.logodds(labels, targets), tree.logodds(labels, targets)
        assert [got[t] for t in targets] == pytest.approx([want[t] for t in targets], abs=EXACT)
    assert be.forward_calls > 0


def test_tree_needs_the_sliding_window_mask_on_gemma(tokenizer, examples):
    """The test prompts are longer than Gemma's 16-token window: one full mask for every layer is wrong,
    so the exactness test above really exercises the per-layer-type masks."""
    model = _MODELS.get("gemma_sliding") or _gemma(len(tokenizer))
    _MODELS["gemma_sliding"] = model
    labels = {i: i % 2 for i in range(N)}
    want = objective(examples, backend(model, tokenizer, mode="naive")).logodds(labels, sorted(labels))
    wrong = backend(model, tokenizer, mode="tree")
    wrong._sliding = (None, False)  # the bug: full attention in the sliding layers
    assert backend(model, tokenizer, mode="tree")._sliding == (16, True)
    got = objective(examples, wrong).logodds(labels, sorted(labels))
    assert max(abs(got[t] - want[t]) for t in labels) > 1e-2


def test_tree_runs_a_whole_evaluation_in_one_call_when_it_fits(model, tokenizer, examples):
    labels = {i: i % 2 for i in range(N)}
    be = backend(model, tokenizer, mode="tree", tree_tokens=100_000)
    obj = objective(examples, be, calibrate=True)
    obj.evaluate(labels)
    assert be.forward_calls == 1
    naive = backend(model, tokenizer, mode="naive")
    objective(examples, naive, calibrate=True).evaluate(labels)
    assert be.tokens_processed < naive.tokens_processed / 2
    obj.evaluate(dict(labels))  # the same labels again: every query is memoized
    assert be.forward_calls == 1
    obj.evaluate({**labels, 3: 1 - labels[3]})  # one flip: only queries that see example 3 are redone
    assert be.forward_calls == 2


def test_tree_batch_cuts_pieces_and_runs_them_as_one_batch(model, tokenizer, examples):
    labels = {i: i % 2 for i in range(N)}
    be = backend(model, tokenizer, mode="tree_batch", tree_tokens=150)
    got = objective(examples, be, calibrate=True).logodds(labels, sorted(labels))
    one = backend(model, tokenizer, mode="tree", tree_tokens=100_000)
    want = objective(examples, one, calibrate=True).logodds(labels, sorted(labels))
    assert list(got.values()) == pytest.approx(list(want.values()), abs=EXACT)
    assert be.forward_calls < 4 and be.tokens_processed > one.tokens_processed, "paths are recomputed"


@pytest.mark.parametrize("mode", ["tree", "tree_batch"])
def test_tree_equals_naive_with_pins_rules_and_truncated_contexts(model, tokenizer, examples, mode):
    class Dual:
        def __init__(self) -> None:
            self.tree = PromptScorer(examples, TASK, backend(model, tokenizer, mode=mode, tree_tokens=60,
                                                             max_context=120))  # fmt: skip
            self.naive = PromptScorer(
                examples, TASK, backend(model, tokenizer, mode="naive", max_context=120)
            )
            self.calls = 0

        def score(self, queries):
            got, want = self.tree.score(queries), self.naive.score(queries)
            assert got == pytest.approx(want, abs=EXACT)
            self.calls += 1
            return got

    dual = Dual()
    a = Annealer(examples, dual, SearchConfig(iterations=6, k_init=6, fix_rounds=2, calibrate=True, seed=5),
                 rules=("exclusive",))  # fmt: skip
    a.pin(2, 0)
    for _ in range(6):
        a.step()
    assert dual.calls >= 4 and dual.tree.backend.dropped_demos > 0


def test_tree_with_the_legacy_cache_argument_gives_the_same_scores(model, tokenizer, examples):
    """transformers before the `cache` rename (4.56 to 5.2x) take `past_key_values`: the path kept for them."""
    labels = {i: (i * 5) % 3 % 2 for i in range(N)}
    current = backend(model, tokenizer, mode="tree", tree_tokens=40)
    legacy = backend(model, tokenizer, mode="tree", tree_tokens=40)
    legacy._cache_arg = "past_key_values"
    a = objective(examples, current).logodds(labels, sorted(labels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        b = objective(examples, legacy).logodds(labels, sorted(labels))
    assert list(b.values()) == pytest.approx(list(a.values()), abs=EXACT)


def test_auto_scoring_picks_by_device_and_model_size(model):
    from types import SimpleNamespace

    from icm_app.scoring.models import resolve_scoring

    class OnGpu:
        def __init__(self, n: int) -> None:
            self.n = n

        def parameters(self):
            return iter([SimpleNamespace(device=SimpleNamespace(type="cuda"))])

        def num_parameters(self) -> int:
            return self.n

    assert resolve_scoring("auto", model) == "prefix"  # a CPU model
    assert resolve_scoring("auto", OnGpu(270_000_000)) == "tree_batch"
    assert resolve_scoring("auto", OnGpu(8_000_000_000)) == "tree"
    assert resolve_scoring("naive", OnGpu(1)) == "naive"
