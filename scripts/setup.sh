#!/usr/bin/env bash
# Create .venv and install ICM Studio with its test tools. Idempotent; fast when already set up.
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
echo "ICM Studio is set up in .venv ($(python -c 'import torch; print("torch", torch.__version__)'))"
