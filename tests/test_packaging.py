"""Layout and delivery: top-level sample_data/ is found from a clone and from an installed wheel, and
`icm app` leaves no Streamlit server behind when it is stopped."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from icm_app.paths import SAMPLES, SAMPLES_DIR

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_lists_every_subpackage_and_maps_sample_data():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "icm_app").rglob("__init__.py")}
    assert found | {"icm_app.sample_data"} == set(tool["packages"])
    assert tool["package-dir"]["icm_app.sample_data"] == "sample_data"


def test_samples_are_found_in_a_clone():
    assert SAMPLES_DIR == ROOT / "sample_data"
    assert all((SAMPLES_DIR / file).is_file() for file, _ in SAMPLES.values())


def test_an_installed_wheel_ships_and_finds_the_samples(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("icm_app", "sample_data"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", source], check=True
    )
    wheel = next((tmp_path / "dist").glob("icm_studio-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", tmp_path / "site", wheel], check=True)
    probe = ("import icm_app, icm_app.paths as p; "
             "print(icm_app.__file__); print(p.SAMPLES_DIR); print(sorted(f.name for f in p.SAMPLES_DIR.iterdir()))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(tmp_path / "site")}).stdout.splitlines()  # fmt: skip
    site = str(tmp_path / "site")
    assert out[0].startswith(site) and out[1] == str(tmp_path / "site" / "icm_app" / "sample_data")
    assert {file for file, _ in SAMPLES.values()} <= set(eval(out[2]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        return urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok"
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_icm_app_stops_its_streamlit_server(icm_home, tmp_path, sig):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "app.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "icm_app.cli", "app", "--port", str(port)], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.time() + 90
        while not _healthy(url):
            assert time.time() < deadline, (tmp_path / "app.log").read_text()
            time.sleep(0.5)
        proc.send_signal(sig)  # the `icm app` process, as a user's Ctrl-C / kill would
        proc.wait(timeout=30)
        deadline = time.time() + 15
        while _healthy(url) and time.time() < deadline:
            time.sleep(0.5)
        assert not _healthy(url), "a Streamlit child still serves the port"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of its session
        except ProcessLookupError:
            pass
