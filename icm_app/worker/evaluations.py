"""The evaluation jobs: each reads a stored run, loads its model, runs computations of evaluation/ and saves
the result to the store. `icm eval` (held-out ICL accuracies, the diagnosis, the salience check), `icm
baselines` and `icm finetune` run them, in the foreground or as a job the app starts (worker/process.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.annealing import SearchState
from ..core.config import SearchConfig
from ..core.consistency import group_members
from ..core.objective import Objective
from ..evaluation.baselines import BaselineConfig, compare
from ..evaluation.diagnosis import diagnose
from ..evaluation.icl import accuracy, combined_examples, evaluate_icl
from ..evaluation.salience import salience
from ..io.loaders import DataError, load_dataset
from ..scoring import build_scorer
from ..scoring.models import ScorerConfig, load_model
from ..store.sqlite_store import Store
from ..tasks.presets import TaskSpec


def run_labels(store: Store, run_id: str) -> tuple[dict[int, int], dict[int, int]]:
    """(the search's own labels, the labels as the researcher overrode them)."""
    current = store.current_labels(run_id)
    searched = dict(current)
    for o in reversed(store.overrides(run_id)):  # undo overrides, latest first, back to the search's label
        if o["old_label"] is None:
            searched.pop(o["idx"], None)
        else:
            searched[o["idx"]] = o["old_label"]
    overridden = current if store.overrides(run_id) else {}
    return searched, overridden


def run_objective(store: Store, run_id: str, scorer: Any = None) -> tuple[Objective, list, dict[int, int]]:
    """The run's objective over its stored examples and context order, its examples and gold (gold only
    evaluates). `scorer`: one already built for these examples (else the run's model is loaded)."""
    info = store.run(run_id)
    task, config = TaskSpec.from_dict(info.task), SearchConfig.from_dict(info.search)
    train, gold = store.search_examples(info.id)
    checkpoint = store.checkpoint(info.id)
    order = SearchState.from_dict(checkpoint).order if checkpoint else sorted(e.idx for e in train)
    scorer = scorer or build_scorer(train, task, ScorerConfig(**info.scorer))
    objective = Objective(scorer, config, order=order, groups=group_members(train), rules=task.rules)
    return objective, train, gold


def baselines_run(
    store: Store,
    run_id: str,
    config: BaselineConfig | None = None,
    *,
    scorer: Any = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Every baseline on the run's examples beside its ICM labels (evaluation/baselines.py), saved to the
    store as the run's "baselines" evaluation."""
    config = config or BaselineConfig()
    searched, _ = run_labels(store, run_id)
    if len(searched) < 2:
        raise DataError("the run has fewer than 2 labels: run the search first")
    objective, _, gold = run_objective(store, run_id, scorer)
    events = store.all_events(run_id)
    cost = (0, sum(e.get("tokens") or 0 for e in events), sum(e.get("seconds") or 0.0 for e in events))
    note = f"the run's labels ({len(events)} iterations)"
    rows = compare(objective, searched, gold, config, icm_cost=cost, icm_note=note, progress=progress)
    result = {"config": config.to_dict(), "n_examples": len(objective.order), "has_gold": bool(gold),
              "calibrate": objective.config.calibrate, "rows": [r.to_dict() for r in rows]}  # fmt: skip
    store.add_evaluation(run_id, "baselines", result)
    return result


def check_evaluation(store: Store, run_id: str, test_path: str | Path) -> int:
    """Refuse, before any process starts, what evaluate_run would fail on; returns the test size."""
    info = store.run(run_id)
    task = TaskSpec.from_dict(info.task)
    if len(store.current_labels(run_id)) < 2:
        raise DataError("the run has fewer than 2 labels: run the search first")
    name = Path(test_path).name
    try:
        test = load_dataset(test_path, task)
    except DataError as exc:  # say which file, by name only
        raise DataError(str(exc) if str(exc).startswith(name) else f"{name}: {exc}") from exc
    if not test.gold:
        raise DataError(f"{name}: the test file needs gold labels in column {task.gold_field!r}")
    return len(test.examples)


def evaluate_run(
    store: Store,
    run_id: str,
    test_path: str | Path,
    *,
    n_demos: int = 16,
    seeds: tuple[int, ...] = (0, 1, 2),
    salience_samples: int = 8,
    progress: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    info = store.run(run_id)
    task, config = TaskSpec.from_dict(info.task), SearchConfig.from_dict(info.search)
    train, gold = store.search_examples(info.id)
    searched, overridden = run_labels(store, info.id)
    if len(searched) < 2:
        raise DataError("the run has fewer than 2 labels: run the search first")
    test = load_dataset(test_path, task)
    if not test.gold:
        raise DataError(f"{test_path}: the test file needs gold labels in column {task.gold_field!r}")
    examples, moved = combined_examples(train, test.examples)
    scorer_config = ScorerConfig(**info.scorer)
    loaded = None if scorer_config.model.startswith("openai:") else load_model(scorer_config)  # loaded once
    scorer = build_scorer(examples, task, scorer_config, loaded=loaded)
    test_gold = {moved[i]: y for i, y in test.gold.items()}
    icl = evaluate_icl(
        scorer, searched, test_gold, gold={i: gold[i] for i in searched if i in gold} if gold else None,
        overridden=overridden, n_demos=n_demos, seeds=seeds, calibrate=config.calibrate, progress=progress,
    )  # fmt: skip
    result = {
        "test": str(test_path), "n_test": len(test_gold), "n_demos": n_demos, "seeds": list(seeds),
        "methods": [{"method": r.method, "accuracies": list(r.accuracies), "mean": r.mean, "std": r.std} for r in icl],
    }  # fmt: skip
    store.add_evaluation(info.id, "icl", result)
    objective, _, _ = run_objective(store, info.id, build_scorer(train, task, scorer_config, loaded=loaded))
    progress("search or objective? comparing U of the run's labels with gold / across chains")
    found = diagnose(objective, searched, gold, store.chains(info.id), iterations=config.iterations,
                     n_examples=len(train))  # fmt: skip
    result["diagnosis"] = found.to_dict()
    store.add_evaluation(info.id, "diagnosis", result["diagnosis"])
    if salience_samples:
        report = salience(objective, searched, samples=salience_samples)
        result["salience"] = {"run_p": report.run_p, "baseline_ps": list(report.baseline_ps),
                              "beaten": report.beaten, "salient": report.salient, "verdict": report.verdict(),
                              "majority_share": report.majority_share}  # fmt: skip
        store.add_evaluation(info.id, "salience", result["salience"])
    return result


def finetune_run(
    store: Store,
    run_id: str,
    test_path: str | Path,
    *,
    sources: tuple[str, ...] = ("icm", "gold"),
    config: Any = None,
    progress: Callable[[str, int, int, float], None] = lambda source, step, total, loss: None,
) -> dict[str, Any]:
    """LoRA on the run's labels (and on gold, the ceiling), then zero-shot held-out accuracy of each model."""
    from ..evaluation.finetune import FinetuneConfig, finetune, merged, save_adapter
    from ..paths import icm_home
    from ..scoring.prompts import PromptScorer
    from ..scoring.transformers_backend import TransformersBackend
    from ..tasks.template import render

    config = config or FinetuneConfig()
    info = store.run(run_id)
    task, search = TaskSpec.from_dict(info.task), SearchConfig.from_dict(info.search)
    scorer_config = ScorerConfig(**info.scorer)
    if scorer_config.model.startswith("openai:"):
        raise DataError("fine-tuning needs a local model, not a server")
    train, gold = store.search_examples(info.id)
    searched, _ = run_labels(store, info.id)
    test = load_dataset(test_path, task)
    if not test.gold:
        raise DataError(f"{test_path}: the test file needs gold labels in column {task.gold_field!r}")
    model, tokenizer = load_model(scorer_config)
    by_idx = {e.idx: e for e in train}
    result: dict[str, Any] = {
        "test": str(test_path),
        "n_test": len(test.gold),
        "config": config.to_dict(),
        "sources": {},
    }
    for source in sources:
        labels = searched if source == "icm" else {i: gold[i] for i in searched if i in gold}
        if not labels:
            continue
        prompts = [render(task.template, by_idx[i].fields) for i in sorted(labels)]
        words = [task.label_words[0 if labels[i] == 1 else 1] for i in sorted(labels)]
        tuned = finetune(model, tokenizer, prompts, words, config,
                         progress=lambda step, total, loss, s=source: progress(s, step, total, loss))  # fmt: skip
        folder = save_adapter(tuned, icm_home() / "adapters" / info.id / source)
        backend = TransformersBackend(merged(tuned), tokenizer, task.label_words)
        acc = accuracy(PromptScorer(test.examples, task, backend), (), test.gold, calibrate=search.calibrate)
        result["sources"][source] = {"accuracy": acc, "n_train": len(labels), "adapter": str(folder)}
    store.add_evaluation(info.id, "finetune", result)
    return result
