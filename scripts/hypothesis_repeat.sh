#!/usr/bin/env bash
# The tests not marked `model`, N times in a row (default 20) under the randomized Hypothesis profile with no
# example database (`fresh`: every run draws new examples cold). Stops at the first failure.
# Usage: bash scripts/hypothesis_repeat.sh [N] [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
n=${1:-20}
shift || true
for i in $(seq "$n"); do
  start=$SECONDS
  HYPOTHESIS_PROFILE=fresh CI='' python -m pytest -q -p no:cacheprovider -m "not model" -x "$@" | tail -1
  echo "run $i/$n passed ($((SECONDS - start)) s)"
done
