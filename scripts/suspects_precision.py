"""Print the suspect-label ranking of stored runs and, with gold, precision at K against a random K.

Usage: ICM_HOME=<folder> python scripts/suspects_precision.py RUN [RUN ...] [--k 10] [--compare]
--compare feeds each run's agreement with the other named runs (matched by example text) into the ranking.
"""

from __future__ import annotations

import argparse

from icm_app.evaluation.compare import label_stability
from icm_app.evaluation.suspects import report_lines
from icm_app.store.sqlite_store import Store


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="run ids (a unique prefix is enough)")
    parser.add_argument("--k", type=int, default=10, help="how many suspects to list (default 10)")
    parser.add_argument("--compare", action="store_true", help="use the other named runs' labels as a signal")
    args = parser.parse_args()
    store = Store()
    ids = [store.run(r).id for r in args.runs]
    for run_id in ids:
        others = [i for i in ids if i != run_id] if args.compare else []
        stability = label_stability(store, run_id, others) if others else None
        print(
            f"== {store.run(run_id).name} ({run_id})"
            + (f", compared with {len(others)} run(s)" if others else "")
        )
        print("\n".join(report_lines(store, run_id, args.k, stability=stability)))


if __name__ == "__main__":
    main()
