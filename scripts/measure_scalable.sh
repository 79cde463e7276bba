#!/usr/bin/env bash
# The measurement behind docs/scalable.md: Algorithm 3 (`icm scale`) on 256 balanced rt-polarity sentences,
# beside Algorithm 1 on a 32-example subset (the job's own start) and `icm batches` on the same 256.
#
#   bash scripts/measure_scalable.sh [SHARED_DATA] [OUT_DIR]      # about 2 hours on 2 CPU cores
#
# Every figure is printed by the product's own commands; the runs stay in $OUT_DIR/home for the app.
set -euo pipefail
SHARED=${1:-../shared/data}
OUT=${2:-$(mktemp -d -t icm-scalable-XXXX)}
export ICM_HOME=$OUT/home
mkdir -p "$ICM_HOME"
python - "$SHARED" "$OUT/rt256.jsonl" <<'PY'
import json, random, sys
from pathlib import Path
shared, out = Path(sys.argv[1]), Path(sys.argv[2])
rng, rows = random.Random(0), []
for polarity, label in (("pos", 1), ("neg", 0)):
    lines = (shared / "rt-polarity" / f"rt-polarity.{polarity}").read_text(encoding="utf-8").splitlines()
    rows += [{"text": t.strip(), "label": label} for t in rng.sample(lines, 128)]
rng.shuffle(rows)
out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
print(f"{out}: {len(rows)} rows, {sum(r['label'] for r in rows)} positive")
PY
echo "== icm scale (start: Algorithm 1 on 32 of the 256, 60 iterations; F=4, 2 rounds)"
/usr/bin/time -f "scale wall %e s" icm scale "$OUT/rt256.jsonl" --preset sentiment --folds 4 --rounds 2 \
    --init icm --subset 32 --iterations 60 --min-changed 0 --seed 0
echo "== icm batches (Algorithm 1 per batch of ${BATCH:-16}, ${BATCH_ITERS:-24} iterations each)"
/usr/bin/time -f "batches wall %e s" icm batches "$OUT/rt256.jsonl" --preset sentiment \
    --batch-size "${BATCH:-16}" --iterations "${BATCH_ITERS:-24}" --seed 0
echo "runs and jobs: ICM_HOME=$ICM_HOME"
