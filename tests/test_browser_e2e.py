"""The product in a real browser (Debian Chromium via Playwright).

test_label_the_sample_in_the_browser: with the real bundled model, load the sample, run a short search,
watch the charts move, override a label, export, check the file.
test_runs_urls_downloads_and_bad_uploads: no model (runs scored by the fake scorer): a run opened from the
Runs page stays open through every page's menu link, direct URLs, download file names and contents, and a
malformed CSV upload. Screenshots of every page land in test-artifacts/."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from icm_app.store.sqlite_store import Store
from icm_app.ui.run_view import PANEL_SECONDS

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(icm_home: Path, tmp_path: Path, **env: str):
    """The app (`icm app`) on a free 127.0.0.1 port, yielding (url, server pid); stops it and its workers."""
    port = free_port()
    log = open(tmp_path / "app.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "icm_app.cli", "app", "--port", str(port)],
        env={**os.environ, "ICM_HOME": str(icm_home), **env}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        pytest.fail("the app did not start within 90 s: " + (tmp_path / "app.log").read_text())
    try:
        yield url, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        for run in Store(icm_home / "runs.sqlite").runs():  # workers run in their own sessions
            if run.worker_pid:
                try:
                    os.killpg(run.worker_pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture
def app_url(icm_home, tmp_path):
    with serve(icm_home, tmp_path) as (url, _):
        yield url


def waits_for(page, icm_home: Path, pattern: str, seconds: float, what: str) -> None:
    """Wait for text matching `pattern`; on timeout, fail saying what was awaited, what the page showed and
    the end of the worker's log (a bare timeout told nobody whether the model was still loading)."""
    from playwright.sync_api import expect

    try:
        expect(page.get_by_text(re.compile(pattern)).first).to_be_visible(timeout=seconds * 1000)
    except AssertionError:
        shown = page.get_by_role("main").inner_text()[:1500]
        logs = sorted((icm_home / "logs").glob("*.log"))
        tail = logs[-1].read_text(errors="replace")[-1500:] if logs else "(no worker log)"
        pytest.fail(f"waited {seconds:.0f} s for {what} ({pattern!r}).\nThe page showed:\n{shown}\n"
                    f"The worker log ends:\n{tail}")  # fmt: skip


needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian chromium is installed by scripts/test.sh"
)


@pytest.mark.model
@pytest.mark.browser
@needs_chromium
def test_label_the_sample_in_the_browser(app_url, icm_home):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # a loaded 2-core machine renders Plotly slowly; 5 s flaked in CI

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(app_url)
        expect(page.get_by_text("Internal Coherence Maximization").first).to_be_visible()
        page.get_by_role("link", name="Data", exact=True).first.click()

        rows = page.get_by_label("Rows to use (0 = all)", exact=True)
        rows.fill("8")
        rows.press("Enter")
        expect(page.get_by_text(re.compile(r"8 examples, gold labels present"))).to_be_visible()
        expect(page.get_by_text(re.compile("Sentiment: (positive|negative)")).first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "model-1-data.png", full_page=True)
        page.get_by_role("button", name="Create run").click()
        expect(page.get_by_text("Created run")).to_be_visible()

        page.get_by_role("link", name="Run", exact=True).first.click()
        iterations = page.get_by_label("Iterations (empty: automatic)", exact=True)
        iterations.fill("6")
        iterations.press("Enter")
        k_init = page.get_by_label("K: examples labeled at the start", exact=True)
        k_init.fill("4")
        k_init.press("Enter")
        time.sleep(1)
        page.get_by_role("button", name="Start", exact=True).click()  # not "Help for restarts"
        # the set-up prepared the model, so loading takes seconds: 180 s is a generous bound, not a hope
        # a warm, idle machine can run all 6 iterations between two refreshes: a finished run also shows the
        # worker started (the fresh-machine rehearsal once missed "running" that way)
        waits_for(
            page, icm_home, r"(running|finished) · iteration [1-6]/6", 180, "the first search iteration"
        )
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "model-2-run-live.png", full_page=True)
        # 6 search iterations, then the completion phase labels the rest through U (two evaluations a step)
        waits_for(page, icm_home, r"finished · iteration 6/6", 480, "6 iterations and the completion phase")
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        page.set_viewport_size({"width": 1400, "height": 2600})  # the page scrolls inside: show all charts
        time.sleep(2)
        page.screenshot(path=ARTIFACTS / "model-3-run-finished.png", full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})

        page.get_by_role("link", name="Labels", exact=True).first.click()
        expect(page.get_by_text(re.compile(r"of 8 examples"))).to_be_visible()
        run_id = Store(icm_home / "runs.sqlite").runs()[0].id
        target = next(iter(Store(icm_home / "runs.sqlite").labels(run_id)))
        page.get_by_label("Examples (idx)").click()
        page.keyboard.type(str(target))
        page.keyboard.press("Enter")
        page.get_by_text("0 (negative)").first.click()  # the override form's; the bulk override's comes after
        page.get_by_role("button", name="Apply override").click()
        expect(page.get_by_text("Saved 1 override")).to_be_visible()
        page.set_viewport_size({"width": 1400, "height": 1700})
        time.sleep(2)  # the table is a canvas grid: let it repaint before the picture
        page.screenshot(path=ARTIFACTS / "model-4-labels.png", full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})

        page.get_by_role("link", name="Export", exact=True).first.click()
        page.get_by_role("button", name=re.compile("Save to")).click()
        expect(page.get_by_text(re.compile(r"Saved .*\.jsonl"))).to_be_visible()
        page.screenshot(path=ARTIFACTS / "model-5-export.png", full_page=True)

        page.get_by_role("link", name="Runs", exact=True).first.click()
        expect(page.locator("[data-testid^=stBaseButton]", has_text="Open")).to_be_visible()
        expect(page.locator("[data-testid=stDataFrame]").first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "model-6-runs.png", full_page=True)
        browser.close()

    exported = [
        json.loads(line) for line in (icm_home / "exports" / f"icm-{run_id}.jsonl").read_text().splitlines()
    ]
    row = next(r for r in exported if r["idx"] == target)
    assert row["label"] == 0 and row["pinned"] and row["label_word"] == "negative"
    events = Store(icm_home / "runs.sqlite").events(run_id)  # 6 iterations, then the completion phase
    assert [e["iteration"] for e in events if e["phase"] != "complete"] == list(range(7))
    assert [e["iteration"] for e in events] == list(range(len(events))) and events[-1]["n_labeled"] == 8


def _seed_runs() -> tuple[str, str]:
    """Two finished runs scored by the fake scorer (no model): the older is the one the user opens."""
    from conftest import FakeScorer, hashed_signal

    from icm_app.core.config import SearchConfig
    from icm_app.io.loaders import build_dataset
    from icm_app.scoring.models import ScorerConfig
    from icm_app.tasks.presets import TaskSpec
    from icm_app.worker.runner import Runner

    store, ids = Store(), []
    task = TaskSpec(name="t", template="Text: {text}\nLabel:", gold_field="label", group_field="g",
                    rules=("exclusive",), key_field="k")  # fmt: skip
    rows = [{"text": f"item {i}", "label": i % 2, "g": str(i // 3), "k": str(i % 3)} for i in range(12)]
    for name in ("older run", "newer run"):
        run_id = store.create_run(build_dataset(rows, task), task, SearchConfig(iterations=6), ScorerConfig(),
                                  data_source="mem", name=name)  # fmt: skip
        Runner(store, run_id, FakeScorer(hashed_signal(12))).run()
        store.add_override(run_id, 2, 1, who="Ada", note="pinned for the test")
        info = store.run(run_id)  # continued to 12 iterations: the override is applied at iteration 7
        store.update_config(
            run_id, search={**info.search, "iterations": 12}, scorer=info.scorer, model=info.model
        )
        Runner(store, run_id, FakeScorer(hashed_signal(12))).run()
        ids.append(run_id)
        time.sleep(0.01)
    return ids[0], ids[1]


@pytest.mark.browser
@needs_chromium
def test_runs_urls_downloads_and_bad_uploads(app_url, icm_home, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # a loaded 2-core machine renders Plotly slowly; 5 s flaked in CI

    older, newer = _seed_runs()
    ARTIFACTS.mkdir(exist_ok=True)

    def shows(run_id: str) -> None:
        expect(page.get_by_text(run_id).first).to_be_visible()
        assert f"run={run_id}" in page.url

    def snap(name: str, height: int = 1000) -> None:
        """Streamlit scrolls inside the page: a tall viewport shows a whole page in the picture."""
        page.set_viewport_size({"width": 1400, "height": height})
        time.sleep(2)  # charts and canvas grids repaint after the resize
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})

    def menu(name: str) -> None:
        page.get_by_role("link", name=name, exact=True).first.click()
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.set_default_timeout(30_000)
        page.goto(app_url)
        expect(page.get_by_text("Internal Coherence Maximization").first).to_be_visible()
        assert page.locator("[data-testid=stAppDeployButton]").count() == 0  # no Deploy button
        snap("0-home")

        menu("Runs")  # open the OLDER run: the newest is the default everywhere
        page.get_by_label("Run to open, resume or delete").click()
        page.get_by_role("option", name=re.compile(older)).click()
        snap("1-runs")
        page.locator("[data-testid^=stBaseButton]", has_text="Open").click()
        expect(page.get_by_role("heading", name="Run", exact=True)).to_be_visible()
        shows(older)
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        snap("2-run", 2600)
        for name, picture, height in (("Labels", "3-labels", 1900), ("Evaluate", "4-evaluate", 1900),
                                      ("Export", "5-export", 1000), ("Data", "6-data", 1900), ("Run", None, 0)):  # fmt: skip
            menu(name)
            shows(older)
            if name == "Labels":
                page.get_by_text("Audit trail", exact=True).click()
            if picture:
                snap(picture, height)
        assert newer not in page.get_by_role("main").inner_text()

        page.goto(f"{app_url}/labels?run={older}")  # a direct URL, in a fresh session
        expect(page.get_by_role("heading", name="Labels", exact=True)).to_be_visible()
        shows(older)
        menu("Export")  # the menu keeps what the URL opened
        shows(older)

        downloads = {}
        for choice in ("CSV", "Fine-tuning (prompt/completion JSONL)", "JSONL"):
            page.get_by_label("Format").click()
            page.get_by_role("option", name=choice, exact=True).click()
            if choice == "Fine-tuning (prompt/completion JSONL)":
                page.get_by_text("Pinned (human-overridden) examples only").click()
            time.sleep(1)
            with page.expect_download() as info:
                page.get_by_role("button", name="Download").click()
            path = tmp_path / info.value.suggested_filename
            info.value.save_as(path)
            downloads[choice] = path
        assert downloads["CSV"].name == f"icm-{older}.csv"
        assert downloads["Fine-tuning (prompt/completion JSONL)"].name == f"icm-{older}-finetune.jsonl"
        assert downloads["JSONL"].name == f"icm-{older}.jsonl"
        import pandas as pd

        frame = pd.read_csv(downloads["CSV"], dtype=str)
        assert set(frame["label"]) <= {"0", "1"} and set(frame["run_id"]) == {older}
        assert len(downloads["Fine-tuning (prompt/completion JSONL)"].read_text().splitlines()) == 1
        assert all(json.loads(r)["run_id"] == older for r in downloads["JSONL"].read_text().splitlines())

        menu("Data")
        page.get_by_text("Upload a file").click()
        bad = tmp_path / "reviews.csv"
        bad.write_text('text,label\ngood,1\n"bad movie,0\nok,1\n', encoding="utf-8")
        page.locator("input[type=file]").set_input_files(bad)
        message = page.get_by_text(re.compile(r"reviews\.csv: line 3, column 1: a quote opens here"))
        expect(message).to_be_visible()
        snap("7-data-bad-csv")
        assert str(icm_home) not in page.get_by_role("main").inner_text()

        menu("Runs")  # delete the open (older) run: the selector must not keep showing it
        selector = page.get_by_label("Run to open, resume or delete")
        selector.click()
        page.get_by_role("option", name=re.compile(older)).click()
        page.get_by_text("Confirm delete").click()
        page.locator("[data-testid^=stBaseButton]", has_text="Delete").click()
        expect(page.get_by_text(f"Deleted run `{older}`".replace("`", ""))).to_be_visible()
        time.sleep(1)
        box = page.locator("[data-testid=stSelectbox]").filter(has_text="Run to open")
        shown = box.aria_snapshot()
        assert older not in shown and newer in shown, shown
        page.locator("[data-testid^=stBaseButton]", has_text="Open").click()
        expect(page.get_by_role("heading", name="Run", exact=True)).to_be_visible()
        shows(newer)
        browser.close()


def _reads(trace: Path, pid: int, since: float) -> list[str]:
    """SQL statements the app server (pid) ran after `since` (epoch seconds), from the ICM_SQL_TRACE file."""
    out = []
    for line in trace.read_text().splitlines():
        who, at, statement = line.split(" ", 2)
        if int(who) == pid and float(at) > since:
            out.append(statement)
    return out


def _reads_once_quiet(trace: Path, pid: int, *, quiet: float = 3, window: float = 10, limit: float = 30):
    """Wait until the server has read nothing for `quiet` s (at most `limit` s: a page that polls never
    goes quiet), then return what it reads over the next `window` s."""
    deadline = time.time() + limit
    while time.time() < deadline and _reads(trace, pid, time.time() - quiet):
        time.sleep(0.5)
    since = time.time()
    time.sleep(window)
    return _reads(trace, pid, since)


@pytest.mark.browser
@needs_chromium
def test_live_pages_read_nothing_once_the_run_has_ended(icm_home, tmp_path):
    """Every page with a live part draws an ended run once and then reads nothing (an open tab used to
    re-read every event and rebuild every figure every 2 s); while a worker lives, the Run page polls one
    small query and redraws when the run changes, then stops polling."""
    import subprocess as sp

    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)
    finished, live = _seed_runs()
    store = Store(icm_home / "runs.sqlite")
    worker = sp.Popen(["sleep", "300"])  # stands in for a live worker: only its pid is looked at
    store.set_status(live, "running")
    store.set_worker(live, worker.pid)
    trace = tmp_path / "sql.trace"
    try:
        with serve(icm_home, tmp_path, ICM_SQL_TRACE=str(trace)) as (url, pid), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for path, title in (("run", "Run"), ("evaluate", "Evaluate"), ("replay", "Replay"),
                                ("how_icm_decides", "How ICM decides")):  # fmt: skip
                page.goto(f"{url}/{path}?run={finished}")
                expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
                reads = _reads_once_quiet(trace, pid)
                assert reads == [], f"the {title} page of a finished run kept reading: {reads[:3]}"

            page.goto(f"{url}/run?run={live}")
            expect(page.get_by_text(re.compile(r"running · iteration 12/12"))).to_be_visible()
            polls = _reads_once_quiet(trace, pid, limit=5, window=2.6 * PANEL_SECONDS)
            assert len(polls) >= 2, f"a live run's page must poll (every {PANEL_SECONDS:g} s): {polls}"
            assert all(s.startswith("SELECT r.status, r.updated") for s in polls), polls[:5]

            store.set_status(live, "finished")  # the worker ends: the page redraws once, then goes quiet
            worker.kill()
            worker.wait()
            expect(page.get_by_text(re.compile(r"finished · iteration 12/12"))).to_be_visible()
            reads = _reads_once_quiet(trace, pid)
            assert reads == [], f"the Run page kept reading after the worker ended: {reads[:3]}"
            browser.close()
    finally:
        worker.kill()
