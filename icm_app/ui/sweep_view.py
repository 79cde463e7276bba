"""The Sweep page's parts: the form that launches `icm sweep --from RUN` in the background, and a stored
sweep's chart (gold agreement and U per setting, spread across seeds), table and link to Compare."""

from __future__ import annotations

import json
import time

import streamlit as st

from ..core.config import INITS
from ..numbers import parse_whole_numbers
from ..store.sqlite_store import RunInfo, Store
from ..worker.process import is_alive, launch, log_path, read_log
from ..worker.sweep import summarize, sweep_points, sweeps
from .charts import plot_config, sweep_figure
from .layout import PAGE, run_link
from .live import rerun_when_changed


def _values(column, label: str, default: str, key: str, *, whole: bool, minimum: float) -> list | None:
    text = column.text_input(label, default, key=key)
    values, problem = parse_whole_numbers(text, what="value", whole=whole, minimum=minimum)
    if problem:
        column.error(problem, icon=":material/error:")
    return values


def form(store: Store, info: RunInfo) -> None:
    """Values of α, K, the start and seeds; each combination becomes a run on the open run's data."""
    st.caption(f"Every combination becomes a run on the data, model and other settings of **{info.name}**, "
               "run one after another in the background with the model loaded once.")  # fmt: skip
    cols = st.columns(4)
    alphas = _values(
        cols[0], "α values", "10 25 50 100", f"sweep_alpha_{info.id}", whole=False, minimum=1e-12
    )
    ks = _values(cols[1], "K values", str(info.search["k_init"]), f"sweep_k_{info.id}", whole=True, minimum=1)
    inits = cols[2].multiselect("Starts", list(INITS), default=[info.search.get("init", "random")],
                                key=f"sweep_init_{info.id}")  # fmt: skip
    seeds = _values(cols[3], "Seeds", "0 1 2", f"sweep_seeds_{info.id}", whole=True, minimum=0)
    ready = None not in (alphas, ks, seeds) and bool(inits)
    n = len(alphas or []) * len(ks or []) * len(inits) * len(seeds or [])
    iterations = info.search.get("iterations") or 0
    st.caption(f"{n} runs × {iterations} iterations" + (" (pick at least one start)" if not inits else ""))
    if st.button("Start the sweep", type="primary", key="start_sweep", disabled=not ready):
        args = ["sweep", "--from", info.id, "--alpha", *map(str, alphas), "--k-init", *map(str, ks),
                "--init", *inits, "--seeds", *map(str, seeds)]  # fmt: skip
        log = log_path(f"sweep-{info.id}")
        pid = launch(args, log, home=store.path.parent, append=False)
        log.with_suffix(".json").write_text(json.dumps({"pid": pid, "started": time.time()}))
        st.info(f"Sweep of {n} runs started; it appears below and on the Runs page as its runs are made.")


def progress(info: RunInfo) -> None:
    """The last sweep launched from this run: running (its log's last line) or ended."""
    record = log_path(f"sweep-{info.id}").with_suffix(".json")
    if not record.exists():
        return
    pid = json.loads(record.read_text())["pid"]
    last = read_log(log_path(f"sweep-{info.id}"), lines=1)
    if is_alive(pid):
        st.info("Sweep running…" + (f"  \nLatest: `{last[-160:]}`" if last else ""))
        rerun_when_changed(lambda: read_log(log_path(f"sweep-{info.id}"), lines=1), last)


def results(store: Store) -> None:
    """A stored sweep: chart by setting, its runs, and a link to Compare them."""
    found = sweeps(store)
    if not found:
        st.caption("No sweep yet.")
        return
    names = {job_id: f"{spec['name']} · {len(spec['runs'])} runs · {job_id}" for job_id, spec in found}
    chosen = st.selectbox("Sweep", list(names), format_func=names.get, key="sweep_shown")
    points = sweep_points(store, chosen)
    summary = summarize(points)
    if any(s["runs"] for s in summary):
        st.plotly_chart(sweep_figure(summary), key="sweep_chart", config=plot_config())
    st.dataframe([{k: p[k] for k in ("setting", "seed", "status", "U", "gold_agreement", "n_labeled", "run_id")
                   if k in p} for p in points], hide_index=True)  # fmt: skip
    ids = [p["run_id"] for p in points]
    st.page_link(PAGE["Compare"], label="Compare these runs", icon=":material/compare_arrows:",
                 query_params={**run_link(ids[0]), "compare": ",".join(ids)})  # fmt: skip
