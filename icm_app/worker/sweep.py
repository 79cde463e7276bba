"""Sweeps: one run per setting of α, K (k init), the start (init) and seed over the same data, run one after
another with the model loaded once; then gold agreement (where gold) and U by value, with the spread
across seeds.

The sweep (its grid and child runs) is a job in the store, so `icm sweep --resume SWEEP` continues after a
crash: finished runs are kept, an interrupted one resumes from its checkpoint. Every run is an ordinary run
(Labels, Review, Evaluate, Compare).
"""

from __future__ import annotations

import itertools
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ..core.config import SearchConfig
from ..core.types import Dataset, Scorer
from ..scoring.models import ScorerConfig
from ..store.sqlite_store import Store
from ..tasks.presets import TaskSpec
from .runner import Runner, gold_agreement, step_reporter

SWEPT = ("alpha", "k_init", "init", "seed")  # the fields a sweep varies, in the order a setting is named
SYMBOL = {"alpha": "α", "k_init": "K", "init": "init", "seed": "seed"}


def grid(values: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the given values (fields in SWEPT order; a field not given is not varied)."""
    names = [f for f in SWEPT if values.get(f)]
    if not names:
        return []
    return [dict(zip(names, combo)) for combo in itertools.product(*(values[f] for f in names))]


def setting_name(values: dict[str, Any]) -> str:
    """'α=25 K=8' for a point's values without its seed: the runs the seeds spread over."""
    return " ".join(f"{SYMBOL[f]}={values[f]:g}" if isinstance(values[f], float) else f"{SYMBOL[f]}={values[f]}"
                    for f in SWEPT if f in values and f != "seed") or "base"  # fmt: skip


def create_sweep(
    store: Store,
    dataset: Dataset,
    task: TaskSpec,
    base: SearchConfig,
    scorer: ScorerConfig,
    values: dict[str, Sequence[Any]],
    *,
    data_source: str,
    name: str = "",
) -> str:
    """Store the sweep and one run per grid point (validated before any model loads); returns its id."""
    points = grid(values)
    if not points:
        raise ValueError("a sweep needs at least one value of alpha, k_init, init or seed")
    configs = [replace(base, **p) for p in points]  # SearchConfig validates each value here
    sweep_id = "sweep-" + time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]
    label = name or f"sweep on {data_source}"
    runs = []
    for point, config in zip(points, configs):
        title = f"{label} · {setting_name(point)} seed={config.seed}"
        run_id = store.create_run(dataset, task, config, scorer, data_source=data_source, name=title)
        runs.append({"run_id": run_id, "values": point})
    store.save_job(sweep_id, {"kind": "sweep", "name": label, "data_source": data_source, "values":
                              {k: list(v) for k, v in values.items() if v}, "runs": runs, "created": time.time()})  # fmt: skip
    return sweep_id


def run_sweep(
    store: Store,
    sweep_id: str,
    scorer: Scorer,
    *,
    on_run: Callable[[int, int, str], None] = lambda _k, _n, _run: None,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[str]:
    """Drive every unfinished run of the sweep in order with one scorer (the runs share their examples);
    returns the statuses. A run that pauses or stops ends the sweep there (resume continues it)."""
    spec = store.job(sweep_id)
    statuses = []
    for k, entry in enumerate(spec["runs"]):
        run_id = entry["run_id"]
        if store.run(run_id).status == "finished":
            statuses.append("finished")
            continue
        on_run(k, len(spec["runs"]), run_id)
        on_step = step_reporter(progress, f"run {k + 1}/{len(spec['runs'])}")
        status = Runner(store, run_id, scorer).run(on_step=on_step).status
        statuses.append(status)
        if status != "finished":
            break
    return statuses


def sweep_points(store: Store, sweep_id: str) -> list[dict[str, Any]]:
    """Per run: its values, setting, status, U of its labels and agreement with gold (None without gold)."""
    out = []
    for entry in store.job(sweep_id)["runs"]:
        run_id = entry["run_id"]
        events = store.events(run_id)
        labels = store.current_labels(run_id)
        _, gold = store.search_examples(run_id)
        out.append({"run_id": run_id, **entry["values"], "setting": setting_name(entry["values"]),
                    "status": store.run(run_id).status, "U": events[-1]["U"] if events else None,
                    "gold_agreement": gold_agreement(labels, gold), "n_labeled": len(labels)})  # fmt: skip
    return out


def summarize(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per setting (every value but the seed): mean and spread across seeds of gold agreement and U, over
    the finished runs; settings in the sweep's order."""
    out = []
    for setting in dict.fromkeys(p["setting"] for p in points):
        done = [p for p in points if p["setting"] == setting and p["status"] == "finished"]
        golds = [p["gold_agreement"] for p in done if p["gold_agreement"] is not None]
        us = [p["U"] for p in done if p["U"] is not None]
        out.append({
            "setting": setting, "runs": len(done),
            "gold_mean": statistics.fmean(golds) if golds else None,
            "gold_std": statistics.stdev(golds) if len(golds) > 1 else 0.0 if golds else None,
            "U_mean": statistics.fmean(us) if us else None,
            "U_std": statistics.stdev(us) if len(us) > 1 else 0.0 if us else None,
        })  # fmt: skip
    return out


def sweeps(store: Store) -> list[tuple[str, dict[str, Any]]]:
    """Every stored sweep, newest first."""
    found = [(job_id, spec) for job_id, spec in store.jobs() if spec.get("kind") == "sweep"]
    return sorted(found, key=lambda js: js[1].get("created", 0), reverse=True)
