"""GPU benchmark: random-weight models of real shapes, the bundled tokenizer, nothing downloaded.

Builds models of the gemma-3-270m and Llama-3.1-8B shapes from a config (random weights: valid for speed,
memory and numerics, not for quality), runs `icm bench` on them (tree vs prefix vs naive, |ΔU| against a
float32 naive reference on sampled evaluations or queries) and a short `icm run --device cuda`, and prints
one table. Meant to finish in under 4 minutes on one H100.

    python scripts/gpu_bench.py --tokenizer DIR [--data FILE] [--out DIR]
    python scripts/gpu_bench.py --tiny            # CPU dry run on tiny shapes (what the test runs)

DIR holds the bundled model's tokenizer.json and tokenizer_config.json (icm_app's converted copy lives
in ~/.cache/icm-studio/gemma-3-270m/). FILE is a JSONL of {"text": ...} rows (256+ for the 8B row);
default: the bundled sentiment samples.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GEMMA_270M = dict(  # google/gemma-3-270m's config.json (the bundled model's); rope: the config defaults
    vocab_size=262144, hidden_size=640, intermediate_size=2048, num_hidden_layers=18,
    num_attention_heads=4, num_key_value_heads=1, head_dim=256, sliding_window=512,
    layer_types=(["sliding_attention"] * 5 + ["full_attention"]) * 3, max_position_embeddings=32768,
    query_pre_attn_scalar=256, bos_token_id=2, eos_token_id=1, pad_token_id=0, tie_word_embeddings=True,
)  # fmt: skip
LLAMA_8B = dict(  # meta-llama/Llama-3.1-8B's shape, with the Gemma tokenizer's vocabulary
    vocab_size=262144, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
    num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=131072,
    bos_token_id=2, eos_token_id=1, pad_token_id=0, tie_word_embeddings=False,
)  # fmt: skip
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
        "num_key_value_heads": 1, "head_dim": 32}  # fmt: skip


def build(kind: str, device: str, dtype: Any, tiny: bool) -> Any:
    """A random-weight model of that shape, built directly on the device."""
    import torch
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig

    shape = dict(GEMMA_270M if kind == "gemma" else LLAMA_8B)
    if tiny:
        shape.update(TINY, layer_types=shape.get("layer_types", [None] * 6)[:2], sliding_window=16)
        if kind == "llama":
            shape.pop("layer_types"), shape.pop("sliding_window")
    config = (Gemma3TextConfig if kind == "gemma" else LlamaConfig)(**shape)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return model.eval()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokenizer", default=str(Path.home() / ".cache/icm-studio/gemma-3-270m"))
    parser.add_argument("--data", help="JSONL with a text column (default: the bundled sentiment samples)")
    parser.add_argument("--out", default="", help="folder for the table and the raw figures (JSON)")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes on the CPU: a dry run")
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer

    from icm_app.bench import run_bench
    from icm_app.paths import SAMPLES, SAMPLES_DIR
    from icm_app.scoring.models import ScorerConfig
    from icm_app.tasks.presets import get_preset

    device = "cpu" if args.tiny else "cuda"
    task = get_preset("sentiment")
    data = args.data or _bundled_rows(SAMPLES_DIR, SAMPLES)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    print(f"device: {gpu}; torch {torch.__version__}; transformers {_version('transformers')}", flush=True)
    results: list[dict[str, Any]] = []
    quiet = lambda _m: None  # noqa: E731
    n_small, n_large = (16, 24) if args.tiny else (64, 256)

    def bench(label: str, model: Any, ref: Any, **kw: Any) -> None:
        start = time.perf_counter()
        with _section(label):
            report = run_bench(data, task, scorer=ScorerConfig(device=device, cache_mb=4096), loaded=(model, tokenizer),
                               reference=(ref, tokenizer) if ref is not None else None, progress=quiet, **kw)  # fmt: skip
            print(f"\n## {label} ({time.perf_counter() - start:.0f} s)\n{report.table()}", flush=True)
            results.append({"label": label, "report": _as_dict(report)})

    # gemma-3-270m shape: the default bf16 against float32 naive; tree vs prefix on a shorter trajectory
    gemma = build("gemma", device, torch.bfloat16, args.tiny)
    gemma32 = build("gemma", device, torch.float32, args.tiny)
    gemma32.load_state_dict({k: v.float() for k, v in gemma.state_dict().items()})
    bench(f"gemma-3-270m shape, bf16, N={n_small}, all labeled", gemma, gemma32,
          n=n_small, iterations=30, k_init=n_small, modes=("tree",), naive_sample=2)  # fmt: skip
    bench(f"gemma-3-270m shape, bf16, N={n_small}: tree vs prefix", gemma, gemma32,
          n=n_small, iterations=3, k_init=n_small, modes=("tree", "prefix"), naive_sample=1)  # fmt: skip
    bench(f"gemma-3-270m shape, fp32, N={n_small}", gemma32, None,
          n=n_small, iterations=4, k_init=n_small, modes=("tree",), naive_sample=1)  # fmt: skip
    with _section("diagnostics"):
        _diagnose(gemma, gemma32, tokenizer, data, task, n_small)
    run_line = "icm run: failed (traceback above)"
    with _section("icm run"):
        run_line = _icm_run(gemma, tokenizer, data, n_small, 150 if not args.tiny else 6, device)
    del gemma, gemma32
    _free(device)

    # Llama-3.1-8B shape at the paper's batch of 256: tree in bf16; naive only for a few sampled queries
    llama = build("llama", device, torch.bfloat16, args.tiny)
    bench(f"Llama-3.1-8B shape, bf16, N={n_large}, all labeled", llama, None,
          n=n_large, iterations=2, k_init=n_large, modes=("tree",), naive_sample=0)  # fmt: skip
    drift = "8B drift: failed (traceback above)"
    with _section("8B drift"):
        drift = _query_drift(llama, tokenizer, data, task, n_large)
    print(f"\n{run_line}\n{drift}", flush=True)
    if out:
        (out / "gpu_bench.json").write_text(json.dumps({"device": gpu, "results": results, "run": run_line,
                                                        "drift_8b": drift}, indent=1))  # fmt: skip
    return 0


def _diagnose(model: Any, model32: Any, tokenizer: Any, data: str, task: Any, n: int) -> None:
    """Exactness of each path in float32 against naive (per query), and one evaluation's time per budget."""
    import torch

    from icm_app.core.config import SearchConfig
    from icm_app.core.consistency import group_members
    from icm_app.core.context import shuffled_order
    from icm_app.core.objective import Objective
    from icm_app.io.loaders import load_dataset
    from icm_app.scoring import tree_attention
    from icm_app.scoring.prompts import PromptScorer
    from icm_app.scoring.transformers_backend import TransformersBackend

    examples = load_dataset(data, task, limit=n).examples
    config = SearchConfig.from_dict({**SearchConfig().to_dict(), **task.search_overrides})
    order = shuffled_order([e.idx for e in examples], 0)

    def objective(m: Any, mode: str, **kw: Any) -> tuple[Objective, TransformersBackend]:
        be = TransformersBackend(m, tokenizer, task.label_words, mode=mode, **kw)
        obj = Objective(PromptScorer(examples, task, be), config, order=order,
                        groups=group_members(examples), rules=task.rules)  # fmt: skip
        return obj, be

    labels = {e.idx: e.idx % 2 for e in examples}
    targets = sorted(labels)
    ref = objective(model32, "naive")[0].logodds(labels, targets)
    print(
        f"\n## float32 exactness, N={n}, {len(targets)} targets (calibrated: {config.calibrate})", flush=True
    )
    variants = [("tree, one call", "tree", {"tree_tokens": 10**9}), ("tree 8192", "tree", {"tree_tokens": 8192}),
                ("tree 1024", "tree", {"tree_tokens": 1024}), ("prefix", "prefix", {})]  # fmt: skip
    for name, mode, kw in variants:
        got = objective(model32, mode, **kw)[0].logodds(labels, targets)
        print(
            f"  {name:16s} max |log-odds - naive| {max(abs(got[t] - ref[t]) for t in targets):.2e}",
            flush=True,
        )
    try:
        model32.set_attn_implementation("eager")
        eager_ref = objective(model32, "naive")[0].logodds(labels, targets)
        eager_tree = objective(model32, "tree", tree_tokens=8192)[0].logodds(labels, targets)
        model32.set_attn_implementation("sdpa")
        print(f"  eager naive vs sdpa naive {max(abs(eager_ref[t] - ref[t]) for t in targets):.2e}; "
              f"eager tree vs eager naive {max(abs(eager_tree[t] - eager_ref[t]) for t in targets):.2e}")  # fmt: skip
    except Exception as exc:  # an older transformers without set_attn_implementation
        print(f"  eager: not measured ({exc})")
    print(f"\n## one evaluation, bf16, N={n}: seconds (plan on CPU + forward) per tree budget", flush=True)
    for budget in (4096, 8192, 16384, 32768, 10**9):
        obj, be = objective(model, "tree", tree_tokens=budget)
        times = []
        for _ in range(4):  # the first is a warm-up; the memo is cleared so every query is computed
            be.clear()
            _sync()
            start = time.perf_counter()
            obj.evaluate(labels)
            _sync()
            times.append(time.perf_counter() - start)
        prompts = [obj.scorer.prompt(q) for q in obj.queries(labels, targets)]
        start = time.perf_counter()
        fitted = [be._fit(p) for p in prompts]
        root = tree_attention.build_trie(
            be.prefix_ids, [[(be._intern[seg], seg) for seg in f] for f in fitted]
        )
        chunks = list(tree_attention.iter_chunks(tree_attention.plan(root, budget)))
        plan_s = time.perf_counter() - start
        print(
            f"  budget {budget:>10}: {min(times[1:]):.3f} s (median {sorted(times[1:])[1]:.3f}), "
            f"{len(chunks)} calls, {root.size:,} tokens, plan {plan_s:.3f} s, "
            f"peak {torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0:,.0f} MB",
            flush=True,
        )


@contextlib.contextmanager
def _section(label: str) -> Iterator[None]:
    """One failing part prints its traceback and the others still run: device time is scarce."""
    try:
        yield
    except Exception:
        print(f"\n## {label}: FAILED", flush=True)
        traceback.print_exc()
        sys.stdout.flush()


def _query_drift(model: Any, tokenizer: Any, data: str, task: Any, n: int) -> str:
    """Tree (bf16) vs naive (bf16) vs naive on a float32 upcast, for a few leave-one-out queries at N=n."""
    import torch

    from icm_app.core.context import loo_context, shuffled_order
    from icm_app.core.types import Query
    from icm_app.io.loaders import load_dataset
    from icm_app.scoring.prompts import PromptScorer
    from icm_app.scoring.transformers_backend import TransformersBackend

    examples = load_dataset(data, task, limit=n).examples
    order = shuffled_order([e.idx for e in examples], 0)
    position = {idx: p for p, idx in enumerate(order)}
    labels = {e.idx: e.idx % 2 for e in examples}
    queries = [Query(loo_context(order, position, labels, t), t) for t in [e.idx for e in examples][:4]]

    def scores(mode: str) -> tuple[list[float], float, int]:
        backend = TransformersBackend(model, tokenizer, task.label_words, mode=mode)
        _sync()
        start = time.perf_counter()
        out = PromptScorer(examples, task, backend).score(queries)
        _sync()
        return out, time.perf_counter() - start, backend.tokens_processed

    tree, _, _ = scores("tree")
    naive, seconds, tokens = scores("naive")
    model.float()
    ref, _, _ = scores("naive")
    model.to(torch.bfloat16)
    d_tree = max(abs(a - b) for a, b in zip(tree, ref))
    d_naive = max(abs(a - b) for a, b in zip(naive, ref))
    return (f"8B shape, {len(queries)} leave-one-out queries at N={n}: naive bf16 {tokens / seconds:,.0f} "
            f"tokens/s; max |log-odds - fp32 naive|: tree bf16 {d_tree:.4f}, naive bf16 {d_naive:.4f} "
            f"(log-odds range {min(ref):.3f}..{max(ref):.3f})")  # fmt: skip


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _icm_run(model: Any, tokenizer: Any, data: str, n: int, iterations: int, device: str) -> str:
    """`icm run --device cuda` on the saved random model: the whole product path (store, worker, scorer)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="icm-gpu-model-"))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    home = Path(tempfile.mkdtemp(prefix="icm-gpu-home-"))
    cmd = [sys.executable, "-m", "icm_app.cli", "run", data, "--preset", "sentiment", "--limit", str(n),
           "--iterations", str(iterations), "--model", str(folder), "--device", device]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**_env(), "ICM_HOME": str(home)}, cwd=ROOT
    )
    wall = time.perf_counter() - start
    last = (proc.stdout.strip().splitlines() or [proc.stderr.strip()[-400:]])[-1]
    return f"icm run, {n} examples x {iterations} iterations on {device}: {wall:.0f} s wall (exit {proc.returncode}): {last}"


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT) + ":" + os.environ.get("PYTHONPATH", "")}


def _bundled_rows(samples_dir: Path, samples: dict[str, tuple[str, str]]) -> str:
    """The sentiment samples (train and held-out) as one file, so that N = 128 is possible without data."""
    import tempfile

    rows = []
    for name in (samples["sentiment"][0], "rt_polarity_test.jsonl"):
        path = samples_dir / name
        if path.exists():
            rows += [line for line in path.read_text().splitlines() if line.strip()]
    target = Path(tempfile.mkdtemp()) / "sentiment.jsonl"
    target.write_text("\n".join(rows) + "\n")
    return str(target)


def _as_dict(report: Any) -> dict[str, Any]:
    import dataclasses

    d = dataclasses.asdict(report)
    for p in d["phases"]:
        p.pop("us")
    return d


def _free(device: str) -> None:
    import gc

    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    raise SystemExit(main())
