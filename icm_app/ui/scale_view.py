"""The Scale page's parts: the form that launches `icm scale` (Algorithm 3) in the background on the open run's
data, and a stored job's progress with ETA, its rounds (chart and table), stop, resume and delete."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import streamlit as st

from ..core.folds import SCALE_INITS, ScaleConfig
from ..store.sqlite_store import RunInfo, Store
from ..tasks.presets import PRESETS
from ..worker.process import is_alive, launch, log_path, read_log
from ..worker.scalable import ScaleJob, delete_scale_job, fold_losses, progress_of, rounds_table, scale_jobs
from .charts import format_duration, plot_config, scale_figure
from .layout import PAGE, run_link
from .live import rerun_when_changed


def form(store: Store, info: RunInfo | None) -> None:
    """F, R, the start and the stopping share; the job labels every example of the open run's data file."""
    if info is None:
        st.info("No run yet: create one on the Data page to label its whole data file here. Jobs made with "
                "`icm scale DATA …` on the command line are listed below.")  # fmt: skip
        return
    if info.task.get("name") not in PRESETS:
        st.caption("Open a run made from a preset task (Data page) to label its whole data file here; "
                   "any task: `icm scale DATA --template …` on the command line.")  # fmt: skip
        return
    st.caption(f"Labels every row of `{info.data_source}` with the task **{info.task['name']}** and model of "
               f"**{info.name}**: rounds of F LoRA fine-tunes, each relabeling the fold it did not see.")  # fmt: skip
    d = ScaleConfig()
    c = st.columns(5)
    folds = c[0].number_input("Folds F", 2, 64, d.folds, key="scale_folds")
    rounds = c[1].number_input("Rounds R (at most)", 1, 50, d.rounds, key="scale_rounds")
    init = c[2].selectbox("Start", SCALE_INITS, key="scale_init",
                          format_func={"icm": "Algorithm 1 on a subset", "zero_shot": "zero-shot"}.get)  # fmt: skip
    subset = c[3].number_input("Subset (Algorithm 1 start)", 2, 512, d.subset, key="scale_subset")
    stop = c[4].number_input(
        "Stop below this share changed", 0.0, 1.0, d.min_changed, step=0.01, key="scale_stop"
    )
    if st.button("Start the job", type="primary", key="start_scale"):
        args = ["scale", info.data_source, "--preset", info.task["name"], "--folds", str(folds), "--rounds",
                str(rounds), "--init", init, "--subset", str(subset), "--min-changed", str(stop),
                "--model", info.scorer["model"]]  # fmt: skip
        _launch(store, args, f"scale-from-{info.id}")
        st.info("Job started; it appears below within a few seconds (the model loads first).")


def _launch(store: Store, args: list[str], name: str) -> None:
    log = log_path(name)
    pid = launch(args, log, home=store.path.parent, append=False)
    log.with_suffix(".json").write_text(json.dumps({"pid": pid, "started": time.time()}))


def _alive(name: str) -> bool:
    record = log_path(name).with_suffix(".json")
    return record.exists() and is_alive(json.loads(record.read_text())["pid"])


def jobs(store: Store, info: RunInfo | None) -> None:
    """A stored job: progress and ETA, the rounds, the log while it runs, and its commands."""
    found = scale_jobs(store)
    if not found:
        st.caption("No scalable-ICM job yet.")
        return
    names = {
        j.id: f"{j.id} · {sum(len(f) for f in j.folds)} examples · F={len(j.folds)} · {j.status}"
        for j in found
    }
    chosen = st.selectbox("Job", list(names), index=len(names) - 1, format_func=names.get, key="scale_shown")
    job = next(j for j in found if j.id == chosen)
    done, total, eta = progress_of(job)
    live = any(_alive(n) for n in (f"scale-from-{info.id}" if info else "", f"scale-{job.id}"))
    st.progress(done / max(1, total), text=f"{done}/{total} folds · {job.status}"
                + (f" · about {format_duration(eta)} left" if eta and job.status != "finished" else ""))  # fmt: skip
    table = rounds_table(store, job)
    if table:
        st.plotly_chart(scale_figure(table, fold_losses(job)), key="scale_chart", config=plot_config())
        st.dataframe(table, hide_index=True)
    if live:
        last = read_log(log_path(f"scale-{job.id}"), lines=1) or read_log(
            log_path(f"scale-from-{info.id}"), lines=1
        )
        st.info("Running…" + (f"  \nLatest: `{last[-160:]}`" if last else ""))
        seen = json.dumps(asdict(job), sort_keys=True)  # the job as this draw read it
        rerun_when_changed(lambda: json.dumps(store.job(job.id), sort_keys=True), seen)
    _commands(store, job, live)


def _commands(store: Store, job: ScaleJob, live: bool) -> None:
    c = st.columns(4)
    c[0].page_link(
        PAGE["Labels"], label="Its labels", icon=":material/label:", query_params=run_link(job.run_id)
    )
    if live and c[1].button("Stop after the fold under way", key="scale_stop_job"):
        store.send_command(job.run_id, "stop")
        st.info("Stop sent: the job ends after the fold under way; Resume continues from the next one.")
    if not live and job.status != "finished" and c[1].button("Resume", key="scale_resume"):
        _launch(store, ["scale", "--resume", job.id], f"scale-{job.id}")
        st.info("Resumed at the first unfinished fold.")
    if not live and c[2].button("Delete the job", key="scale_delete"):
        delete_scale_job(store, job)
        st.success(f"Deleted {job.id}, its runs and its adapters.")
        st.rerun()


def stop_if_scale_run(store: Store, info: RunInfo | None) -> None:
    """Pages that show a search (its U(D), steps, temperature) have nothing to show for a scalable-ICM run:
    say where its rounds are instead, and stop the page."""
    from ..worker.scalable import job_of_run

    if info is not None and (job := job_of_run(store, info.id)):
        st.info(f"These labels come from the scalable-ICM job `{job.id}` (Algorithm 3: fold fine-tunes, no U(D) "
                "to search): its rounds, progress and commands are on the Scale page.")  # fmt: skip
        st.page_link(PAGE["Scale"], label="Go to Scale", icon=":material/stacks:")
        st.stop()
