#!/usr/bin/env bash
# Create .venv, install ICM Studio with its test tools, prepare the bundled model. Idempotent; fast when
# already set up.
# torch is pinned and installed first: on a CPU machine that is the lean CPU build; an unpinned torch
# would pull a multi-GB CUDA build. GPU users: ICM_TORCH="torch==2.13.0" (or their CUDA build) works too.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
. .venv/bin/activate
python -m pip install -q --disable-pip-version-check --upgrade pip
python -c "import torch" 2>/dev/null || python -m pip install -q --disable-pip-version-check "${ICM_TORCH:-torch==2.13.0}"
python -m pip install -q --disable-pip-version-check -e '.[dev]'
# The bundled model: converted once per machine (about a minute or two on 2 CPU cores), under a lock, then
# checked in seconds; so neither the app's first run nor a test ever waits on a conversion.
icm prepare
echo "ICM Studio is set up in .venv ($(python -c 'import torch; print("torch", torch.__version__)'))"
