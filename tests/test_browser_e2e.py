"""The whole product in a real browser (Debian Chromium via Playwright) with the real bundled model:
load the sample, run a short search, watch the charts move, override a label, export, check the file.
Screenshots of every page land in test-artifacts/."""

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
from pathlib import Path

import pytest

from icm_app.store.sqlite_store import Store

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(icm_home, tmp_path):
    port = free_port()
    log = open(tmp_path / "app.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "icm_app.cli", "app", "--port", str(port)],
        env={**os.environ, "ICM_HOME": str(icm_home)}, stdout=log, stderr=subprocess.STDOUT,
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
        pytest.fail("the app did not start: " + (tmp_path / "app.log").read_text())
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    for run in Store(icm_home / "runs.sqlite").runs():  # workers run in their own sessions
        if run.worker_pid:
            try:
                os.killpg(run.worker_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is installed by scripts/test.sh")
def test_label_the_sample_in_the_browser(app_url, icm_home):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(app_url)

        rows = page.get_by_label("Rows to use (0 = all)")
        rows.fill("8")
        rows.press("Enter")
        expect(page.get_by_text(re.compile(r"8 examples, gold labels present"))).to_be_visible()
        expect(page.get_by_text("Sentiment: positive").first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "1-data.png", full_page=True)
        page.get_by_role("button", name="Create run").click()
        expect(page.get_by_text("Created run")).to_be_visible()

        page.get_by_role("link", name="Run").first.click()
        iterations = page.get_by_label("iterations", exact=True)
        iterations.fill("6")
        iterations.press("Enter")
        k_init = page.get_by_label("k init", exact=True)
        k_init.fill("4")
        k_init.press("Enter")
        time.sleep(1)
        page.get_by_role("button", name="Start").click()
        expect(page.get_by_text(re.compile(r"running · iteration [1-5]/6"))).to_be_visible(timeout=180_000)
        page.screenshot(path=ARTIFACTS / "2-run-live.png", full_page=True)
        expect(page.get_by_text(re.compile(r"finished · iteration 6/6"))).to_be_visible(timeout=240_000)
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "3-run-finished.png", full_page=True)

        page.get_by_role("link", name="Labels").first.click()
        expect(page.get_by_text(re.compile(r"of 8 examples"))).to_be_visible()
        run_id = Store(icm_home / "runs.sqlite").runs()[0].id
        target = next(iter(Store(icm_home / "runs.sqlite").labels(run_id)))
        page.get_by_label("Examples (idx)").click()
        page.keyboard.type(str(target))
        page.keyboard.press("Enter")
        page.get_by_text("0 (negative)").click()
        page.get_by_role("button", name="Apply override").click()
        expect(page.get_by_text("Saved 1 override")).to_be_visible()
        page.set_viewport_size({"width": 1400, "height": 1700})
        time.sleep(2)  # the table is a canvas grid: let it repaint before the picture
        page.screenshot(path=ARTIFACTS / "4-labels.png", full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})

        page.get_by_role("link", name="Export").first.click()
        page.get_by_role("button", name=re.compile("Save to")).click()
        expect(page.get_by_text(re.compile(r"Saved .*\.jsonl"))).to_be_visible()
        page.screenshot(path=ARTIFACTS / "5-export.png", full_page=True)

        page.get_by_role("link", name="Runs").first.click()
        expect(page.get_by_role("button", name="Open")).to_be_visible()
        expect(page.locator("[data-testid=stDataFrame]").first).to_be_visible()
        page.screenshot(path=ARTIFACTS / "6-runs.png", full_page=True)
        browser.close()

    exported = [
        json.loads(line) for line in (icm_home / "exports" / f"icm-{run_id}.jsonl").read_text().splitlines()
    ]
    row = next(r for r in exported if r["idx"] == target)
    assert row["label"] == 0 and row["pinned"] and row["label_word"] == "negative"
    events = Store(icm_home / "runs.sqlite").events(run_id)
    assert [e["iteration"] for e in events] == list(range(7))
