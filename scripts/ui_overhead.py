"""What an open browser tab costs the search it shows, measured side by side on the bundled model.

    python scripts/ui_overhead.py [--limit 12] [--iterations 12] [--pairs 3]

With one app server running, the same seeded search (same proposals, same tokens) runs `--pairs` times with
no browser and as often with headless Chromium holding that run's Run page open, alternating. Search time
is the sum of the iterations' own seconds (model loading excluded); the figures are medians over pairs. Also printed: the server's CPU with no
tab and with an idle Home tab (its share of one core over 20 s). The last line is
`run page overhead: X%` (search time with the page open over without, minus one).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def browser_cpu_seconds() -> float:
    """CPU of every live Chromium process (the page's renderer lives until its tab closes)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if "chrom" in stat.read_text().split(" ", 2)[1]:
                total += cpu_seconds(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return total


def core_share(pid: int, seconds: float) -> float:
    """The process's CPU over `seconds` of wall time, as a share of one core."""
    c0, t0 = cpu_seconds(pid), time.perf_counter()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.perf_counter() - t0)


def start_app(home: Path, port: int) -> subprocess.Popen:
    with socket.socket() as probe:  # a server left on the port would answer the health check for this one
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} is taken (a server left running?): pass --port")
    env = {**os.environ, "ICM_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "icm_app.cli", "app", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    for _ in range(180):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                return proc
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the app did not start")


def new_run(store, limit: int, iterations: int, seed: int) -> str:
    from icm_app.core.config import SearchConfig
    from icm_app.io.loaders import load_dataset
    from icm_app.paths import sample_path
    from icm_app.scoring.models import ScorerConfig
    from icm_app.tasks.presets import get_preset

    task = get_preset("sentiment")
    dataset = load_dataset(str(sample_path("sentiment")), task, limit=limit)
    search = SearchConfig.from_dict({**task.search_overrides, "iterations": iterations, "seed": seed})
    return store.create_run(
        dataset, task, search, ScorerConfig(), data_source="ui_overhead", name="ui overhead"
    )


def search_seconds(store, home: Path, run_id: str, page_url: str | None, browser) -> tuple[float, int, float]:
    """Start the run's worker as the app does; with `page_url`, a tab holds its Run page meanwhile.
    Returns (search seconds, model tokens, browser CPU seconds from the first iteration to the worker's end)."""
    from icm_app.worker.process import is_alive, start_worker

    os.environ["ICM_HOME"] = str(home)
    page = None
    pid = start_worker(store, run_id)  # as Start does: the page it reruns sees a live worker
    if page_url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{page_url}/run?run={run_id}")
        live = re.compile(r"(starting|running|finished) · iteration")
        page.get_by_text(live).first.wait_for(timeout=120_000)  # the live panel, not an error page
    b0 = None  # browser CPU once the first iteration is written: model loading excluded
    while is_alive(pid):
        time.sleep(0.5)
        if b0 is None and len(store.events(run_id)) >= 2:  # the initialization, then iteration 1
            b0 = browser_cpu_seconds()
    browser_seconds = browser_cpu_seconds() - (b0 if b0 is not None else browser_cpu_seconds())
    if page is not None:
        page.close()
    info = store.run(run_id)
    if info.status != "finished":
        raise SystemExit(f"run {run_id} ended {info.status}: {info.message}")
    events = [e for e in store.events(run_id) if e["iteration"] > 0]
    return sum(e["seconds"] for e in events), sum(e["tokens"] or 0 for e in events), browser_seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=12, help="examples of the sentiment sample")
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--pairs", type=int, default=3, help="runs with and without the page, alternating")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="icm-ui-overhead-"))
    os.environ["ICM_HOME"] = str(home)
    from icm_app.store.sqlite_store import Store

    store = Store(home / "runs.sqlite")
    app = start_app(home, args.port)
    url = f"http://127.0.0.1:{args.port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            print(f"server CPU, no tab: {core_share(app.pid, 20):.1%} of a core", flush=True)
            home_tab = browser.new_page()
            home_tab.goto(url)
            home_tab.get_by_text("Internal Coherence Maximization").first.wait_for()
            time.sleep(3)
            print(f"server CPU, an idle Home tab: {core_share(app.pid, 20):.1%} of a core", flush=True)
            home_tab.close()
            times: dict[str, list[float]] = {"no page": [], "Run page open": []}
            for pair in range(args.pairs):
                for label, page_url in (("no page", None), ("Run page open", url)):
                    run_id = new_run(store, args.limit, args.iterations, seed=0)
                    c0 = cpu_seconds(app.pid)
                    seconds, tokens, browser_seconds = search_seconds(store, home, run_id, page_url, browser)
                    times[label].append(seconds)
                    print(f"pair {pair + 1}, {label}: search {seconds:.1f} s, {tokens} tokens, server CPU "
                          f"{cpu_seconds(app.pid) - c0:.1f} s, browser CPU {browser_seconds:.1f} s", flush=True)  # fmt: skip
            browser.close()
    finally:
        os.killpg(app.pid, 15)
    without, with_page = statistics.median(times["no page"]), statistics.median(times["Run page open"])
    print(f"median search time: {without:.1f} s with no page, {with_page:.1f} s with the Run page open "
          f"(spread without: {min(times['no page']):.1f}-{max(times['no page']):.1f} s)")  # fmt: skip
    print(f"run page overhead: {with_page / without - 1:.1%}")


if __name__ == "__main__":
    main()
