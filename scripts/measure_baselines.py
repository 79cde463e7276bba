"""The measurements behind docs/baselines.md, on the bundled model (CPU): is ICM worth it on the bundled samples?

    python scripts/measure_baselines.py [--part table|samples|sweep|objective|demo|all] [--iterations 60]

Every number is computed by the product's own code (evaluation/baselines.py, worker/sweep.py) on real runs,
loading the model once. Runs land in $ICM_HOME (a temporary folder unless set), so the app can open them.
Prints markdown tables; nothing is tuned to look good.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("ICM_HOME", tempfile.mkdtemp(prefix="icm-measure-"))

from icm_app.core.config import SearchConfig  # noqa: E402
from icm_app.core.context import loo_context  # noqa: E402
from icm_app.evaluation.baselines import BaselineConfig, argmax, predict, zero_shot  # noqa: E402
from icm_app.io.loaders import load_dataset  # noqa: E402
from icm_app.paths import SAMPLES, SAMPLES_DIR  # noqa: E402
from icm_app.scoring import build_scorer  # noqa: E402
from icm_app.scoring.models import ScorerConfig, load_model  # noqa: E402
from icm_app.store.sqlite_store import Store  # noqa: E402
from icm_app.tasks.presets import get_preset  # noqa: E402
from icm_app.worker.evaluations import baselines_run, run_objective  # noqa: E402
from icm_app.worker.runner import Runner  # noqa: E402
from icm_app.worker.sweep import create_sweep, run_sweep, summarize, sweep_points  # noqa: E402

SCORER = ScorerConfig()
LOADED = load_model(SCORER)


def sample(name: str, limit: int | None):
    filename, preset = SAMPLES[name]
    task = get_preset(preset)
    return load_dataset(SAMPLES_DIR / filename, task, limit=limit), task, str(SAMPLES_DIR / filename)


def scorer_for(store: Store, run_id: str):
    examples, _ = store.search_examples(run_id)
    from icm_app.tasks.presets import TaskSpec

    return build_scorer(examples, TaskSpec.from_dict(store.run(run_id).task), SCORER, loaded=LOADED)


def table(result: dict, title: str) -> None:
    print(f"\n#### {title}\n")
    gold = result["has_gold"]
    head = [
        "method",
        *(["gold agreement"] if gold else []),
        "U (run's objective)",
        "agrees with ICM",
        "tokens",
        "s",
    ]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in result["rows"]:
        cells = [r["method"]]
        if gold:
            g = r["gold_agreement"]
            cells.append(f"{g:.3f}" + (f" ± {r['gold_std']:.3f}" if r["draws"] > 1 else ""))
        cells.append(f"{r['U']:.2f}" + (f" ± {r['U_std']:.2f}" if r["draws"] > 1 else ""))
        cells.append("" if r["icm_agreement"] is None else f"{r['icm_agreement']:.3f}")
        cells += [f"{r['tokens']:,}", f"{r['seconds']:.0f}"]
        print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()


def one_run(store: Store, name: str, limit: int | None, iterations: int, title: str, seed: int = 0) -> str:
    """One run of a bundled sample with its preset's settings, on the shared model."""
    dataset, task, source = sample(name, limit)
    overrides = {**task.search_overrides, "iterations": iterations, "seed": seed}
    search = SearchConfig(**{**SearchConfig().to_dict(), **overrides})
    run_id = store.create_run(dataset, task, search, SCORER, data_source=source, name=title)
    t0 = time.perf_counter()
    Runner(store, run_id, scorer_for(store, run_id)).run()
    print(f"<!-- {title}: run {run_id} in {time.perf_counter() - t0:.0f} s -->", flush=True)
    return run_id


def part_sweep(store: Store, iterations: int, limit: int, seeds: list[int]) -> dict[int, str]:
    """The α sweep on sentiment (3 seeds); its α = 50 runs are the preset's default (the objective part's
    reference)."""
    dataset, task, source = sample("sentiment", limit)
    base = SearchConfig(**{**SearchConfig().to_dict(), **task.search_overrides, "iterations": iterations})
    sweep_id = create_sweep(store, dataset, task, base, SCORER, {"alpha": [10.0, 25.0, 50.0, 100.0],
                            "seed": seeds}, data_source=source, name="alpha sweep")  # fmt: skip
    spec = store.job(sweep_id)
    t0 = time.perf_counter()
    run_sweep(store, sweep_id, scorer_for(store, spec["runs"][0]["run_id"]),
              on_run=lambda k, n, r: print(f"<!-- sweep run {k + 1}/{n} at {time.perf_counter() - t0:.0f} s -->", flush=True))  # fmt: skip
    print(
        f"\n#### α sweep on sentiment ({limit} examples, {iterations} iterations, seeds {seeds}; `{sweep_id}`)\n"
    )
    points = sweep_points(store, sweep_id)
    print("| setting | runs | gold agreement | U (own objective) |\n|---|---|---|---|")
    for row in summarize(points):
        print(f"| {row['setting']} | {row['runs']} | {row['gold_mean']:.3f} ± {row['gold_std']:.3f} | "
              f"{row['U_mean']:.2f} ± {row['U_std']:.2f} |")  # fmt: skip
    print("\n| α | seed | gold agreement | U(ICM) |\n|---|---|---|---|")
    for p in points:
        print(f"| {p['alpha']:g} | {p['seed']} | {p['gold_agreement']:.3f} | {p['U']:.2f} |")
    sys.stdout.flush()
    return {p["seed"]: p["run_id"] for p in points if p["alpha"] == 50.0}


def part_table(store: Store, iterations: int, seeds: list[int]) -> None:
    """ICM on the sentiment sample's first 32 examples, the preset's settings, one run per seed; the baselines
    beside the first seed's run."""
    runs = [
        one_run(store, "sentiment", 32, iterations, f"sentiment 32 seed {seed}", seed=seed) for seed in seeds
    ]
    result = baselines_run(store, runs[0], BaselineConfig(), scorer=scorer_for(store, runs[0]))
    table(result, f"sentiment, 32 examples, {iterations} iterations, seed {seeds[0]} (`{runs[0]}`)")
    icm_rows(store, runs)


def icm_rows(store: Store, run_ids: list[str]) -> None:
    print("\n| ICM run | gold agreement | U(ICM) | U(gold) |\n|---|---|---|---|")
    for run_id in run_ids:
        d = store.latest_evaluation(run_id, "diagnosis")
        print(
            f"| {store.run(run_id).name} | {d['gold_agreement']:.3f} | {d['run_u']:.2f} | {d['gold_u']:.2f} |"
        )
    sys.stdout.flush()


def part_demo_runs(
    store: Store, iterations: int, limit: int, seeds: list[int], name: str = "sentiment, 'I liked it'"
) -> None:
    """ICM on the demo candidate (3 seeds) with the baselines on seed 0."""
    dataset, task, source = candidate(name, limit)
    runs = []
    for seed in seeds:
        config = SearchConfig(**{**SearchConfig().to_dict(), **task.search_overrides, "iterations": iterations,
                                 "seed": seed})  # fmt: skip
        run_id = store.create_run(
            dataset, task, config, SCORER, data_source=source, name=f"{name} seed {seed}"
        )
        Runner(store, run_id, scorer_for(store, run_id)).run()
        runs.append(run_id)
    result = baselines_run(store, runs[0], BaselineConfig(), scorer=scorer_for(store, runs[0]))
    table(result, f"demo candidate {name}, {limit} examples, {iterations} iterations (`{runs[0]}`)")
    icm_rows(store, runs)


def part_samples(store: Store, iterations: int, limit: int) -> None:
    """TruthfulQA and GSM8K, first `limit` rows (whole groups): their long prompts and ConsistencyFix cost up
    to a minute per iteration on 2 cores at 32 examples."""
    for name in ("truthfulqa", "gsm8k"):
        run_id = one_run(store, name, limit, iterations, f"{name} seed 0")
        result = baselines_run(store, run_id, BaselineConfig(), scorer=scorer_for(store, run_id))
        table(
            result,
            f"{name} sample ({len(store.examples(run_id))} examples, {iterations} iterations, seed 0, `{run_id}`)",
        )


def part_objective(
    store: Store, iterations: int, limit: int, preset_runs: dict[int, str], seeds: list[int]
) -> None:
    """Which settings rank gold above what the search finds (sentiment, the small parts' seeds); the preset's
    own rows are the α sweep's α = 50 runs where this invocation made them. The zero-shot start is measured by
    `icm sweep --init random zero_shot` (docs/baselines.md)."""
    variants = {
        "no calibration": {"calibrate": False},
        "sum of log-probs (the paper's P)": {"p_mode": "sum_logprob"},
    }
    print(
        f"\n#### Objective settings on sentiment ({limit} examples, {iterations} iterations, seeds {seeds})\n"
    )
    print("| setting | seed | gold agreement | U(ICM) | U(gold) | verdict |\n|---|---|---|---|---|---|")
    _, task, _ = sample("sentiment", 32)

    def row(title: str, seed: int, run_id: str) -> None:
        d = store.latest_evaluation(run_id, "diagnosis")
        print(f"| {title} | {seed} | {d['gold_agreement']:.3f} | {d['run_u']:.2f} | {d['gold_u']:.2f} | {d['title']} |",
              flush=True)  # fmt: skip

    for seed, run_id in sorted(preset_runs.items()):
        row("preset (calibrated, mean log-odds, share 30-70%)", seed, run_id)
    for title, change in variants.items():
        for seed in seeds:
            base = {
                **SearchConfig().to_dict(),
                **task.search_overrides,
                "iterations": iterations,
                "seed": seed,
            }
            row(
                title,
                seed,
                _run_exact(store, SearchConfig(**{**base, **change}), f"{title} seed {seed}", limit),
            )


def _run_exact(store: Store, config: SearchConfig, title: str, limit: int) -> str:
    dataset, task, source = sample("sentiment", limit)
    run_id = store.create_run(dataset, task, config, SCORER, data_source=source, name=title)
    Runner(store, run_id, scorer_for(store, run_id)).run()
    return run_id


VARIANTS = {  # the sentiment sample under other framings: is there one where context adds what zero-shot lacks?
    "sentiment, label words A/B": {"template": "Review: {text}\nClass:", "label_words": (" A", " B")},
    "sentiment, label words blue/red": {
        "template": "Review: {text}\nColour:",
        "label_words": (" blue", " red"),
    },
    "sentiment, 'I liked it'": {
        "template": "Review: {text}\nDid the reviewer like it?",
        "label_words": (" yes", " no"),
    },
}
CANDIDATES = {
    "demo": [("sentiment", 64), ("truthfulqa", None), ("gsm8k", None), ("alpaca", None)],
    "demo2": [(name, 32) for name in VARIANTS],
}


def candidate(name: str, limit: int | None):
    if name not in VARIANTS:
        return sample(name, limit)
    from icm_app.tasks.presets import TaskSpec

    base = get_preset("sentiment").to_dict()
    task = TaskSpec.from_dict({**base, **VARIANTS[name], "name": name})
    path = SAMPLES_DIR / SAMPLES["sentiment"][0]
    return load_dataset(path, task, limit=limit), task, str(path)


def part_demo(store: Store, part: str = "demo") -> None:
    """Candidates for a demo sample: the model's ceiling (leave-one-out, gold context) against calibrated
    zero-shot, with no search (cheap: one zero-shot pass and one leave-one-out pass per candidate)."""
    print("\n#### Demo candidates: ceiling − calibrated zero-shot\n")
    print(
        "| candidate | n | calibrated zero-shot | ceiling (calibrated) | ceiling (raw) | gap |\n|---|---|---|---|---|---|"
    )
    for name, limit in CANDIDATES[part]:
        dataset, task, source = candidate(name, limit)
        run_id = store.create_run(dataset, task, SearchConfig(iterations=0), SCORER, data_source=source,
                                  name=f"demo candidate {name}")  # fmt: skip
        objective, _, gold = run_objective(store, run_id, scorer_for(store, run_id))
        ids = sorted(gold)
        zs = argmax(zero_shot(objective.scorer, ids, calibrate=True))
        zs_acc = sum(zs[i] == gold[i] for i in ids) / len(ids)
        accs = []
        loo = partial(loo_context, objective.order, objective.position, gold)
        for calibrate in (True, False):
            lo = predict(objective.scorer, ids, loo, calibrate=calibrate)
            accs.append(sum(argmax(lo)[i] == gold[i] for i in ids) / len(ids))
        print(f"| {name} | {len(ids)} | {zs_acc:.3f} | {accs[0]:.3f} | {accs[1]:.3f} | {max(accs) - zs_acc:+.3f} |",
              flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", nargs="+", default=["all"],
                        choices=["demo", "demo2", "sweep", "table", "samples", "demo_runs", "objective", "all"])  # fmt: skip
    parser.add_argument(
        "--iterations", type=int, default=60, help="search iterations of the 32-example table"
    )
    parser.add_argument(
        "--small", type=int, default=16, help="examples of the sweep, demo and objective parts"
    )
    parser.add_argument("--small-iterations", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the small parts")
    parser.add_argument("--sweep-seeds", type=int, nargs="+", help="seeds of the α sweep (default: --seeds)")
    parser.add_argument(
        "--table-seeds", type=int, nargs="+", default=[0], help="seeds of the 32-example table"
    )
    args = parser.parse_args()
    parts = (
        {"demo", "demo2", "sweep", "table", "samples", "demo_runs", "objective"}
        if "all" in args.part
        else set(args.part)
    )
    store = Store()
    print(f"<!-- ICM_HOME={os.environ['ICM_HOME']} -->")
    small, its = args.small, args.small_iterations
    for part in ("demo", "demo2"):
        if part in parts:
            part_demo(store, part)
    fifty = part_sweep(store, its, small, args.sweep_seeds or args.seeds) if "sweep" in parts else {}
    if "table" in parts:
        part_table(store, args.iterations, args.table_seeds)
    if "demo_runs" in parts:
        part_demo_runs(store, its, small, args.seeds)
    if "objective" in parts:
        part_objective(store, its, small, fifty, args.seeds)
    if "samples" in parts:
        part_samples(store, its // 2, small)


if __name__ == "__main__":
    main()
