"""Background job behind the "How ICM decides" page: explain one example of a stored run with the run's own
model and store the result (kind `explain:<idx>`), or the failure with its message.

Run as `python -m icm_app.worker.explain RUN_ID IDX`; the page starts it through worker/process.py and only
reads what this stores, so the model never loads in the page.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from typing import Any

from ..core.annealing import SearchState
from ..core.config import SearchConfig
from ..core.types import Scorer
from ..evaluation.explain import explain_example
from ..scoring.models import ScorerConfig
from ..store.sqlite_store import Store
from ..tasks.presets import TaskSpec


def result_kind(idx: int) -> str:
    """The store's evaluation kind of one example's explanation (the latest one per example is shown)."""
    return f"explain:{idx}"


def explain_run(store: Store, run_id: str, idx: int, *, scorer: Scorer | None = None) -> dict[str, Any]:
    """Explain example `idx` of `run_id` under its current labels and checkpoint; store and return the result.

    `scorer`: defaults to the run's own, built from its stored scorer config as `icm resume` builds it."""
    start = time.perf_counter()
    info = store.run(run_id)
    examples, _ = store.search_examples(run_id)
    task = TaskSpec.from_dict(info.task)
    if idx not in {e.idx for e in examples}:  # before the model loads
        raise ValueError(f"run {info.id} has no example {idx}")
    if scorer is None:
        from ..scoring import build_scorer

        scorer = build_scorer(examples, task, ScorerConfig(**info.scorer))
    saved = store.checkpoint(info.id)
    state = SearchState.from_dict(saved) if saved else None
    stored = store.labels(info.id)
    if state is not None:  # a pin saved since the checkpoint holds for the fix, as the runner will apply it
        state.pinned.update(
            {i: v["label"] for i, v in stored.items() if v["pinned"] and v["label"] is not None}
        )
    labels = store.current_labels(info.id)
    explanation = explain_example(
        examples, scorer, SearchConfig.from_dict(info.search), labels, idx,
        rules=task.rules, state=state, label_words=task.label_words,
    )  # fmt: skip
    events = store.events(info.id)
    result = {
        **explanation.to_dict(), "state": "finished", "iteration": state.iteration if state else 0,
        "run_status": info.status, "labels": {str(i): y for i, y in sorted(labels.items())},
        "event_U": events[-1]["U"] if events else None, "seconds": time.perf_counter() - start,
    }  # fmt: skip
    store.add_evaluation(info.id, result_kind(idx), result)
    return result


def main(argv: list[str] | None = None) -> int:
    """python -m icm_app.worker.explain RUN_ID IDX: explain one example with the run's model."""
    parser = argparse.ArgumentParser(prog="python -m icm_app.worker.explain", description=main.__doc__)
    parser.add_argument("run_id")
    parser.add_argument("idx", type=int)
    args = parser.parse_args(argv)
    store = Store()
    try:
        result = explain_run(store, args.run_id, args.idx)
    except Exception as exc:
        traceback.print_exc()
        message = f"{type(exc).__name__}: {exc}"
        try:
            store.add_evaluation(store.run(args.run_id).id, result_kind(args.idx),
                                 {"idx": args.idx, "state": "failed", "error": message})  # fmt: skip
        except Exception:  # an unknown run: the message is in the log only
            pass
        print(f"explain: failed: {message}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(
        f"explained example {args.idx}: P(label words) {[round(p, 4) for p in result['probabilities']]}, "
        f"U {result['U']:.4f}, U if flipped {result['U_flipped']:.4f}, accept {result['acceptance']:.4g} "
        f"at T {result['temperature']:.4g} ({result['seconds']:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
