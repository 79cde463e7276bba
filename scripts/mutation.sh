#!/usr/bin/env bash
# Mutation testing of icm_app/core (outside CI): mutmut mutates the core, the tests not marked `model` must
# kill each mutant. Config: [tool.mutmut] in pyproject.toml; survivors and pragmas: tests/mutation_survivors.md.
# Usage: bash scripts/mutation.sh [MAX_CHILDREN]   (default 2; results in mutants/, `mutmut results` lists them)
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export CI=true  # the derandomized Hypothesis profile: a mutant's verdict must not depend on luck
rm -rf mutants
mutmut run --max-children "${1:-2}"
mutmut results --all true > mutants/results.txt || true
python - <<'PY'
import collections, re
counts = collections.Counter()
for line in open("mutants/results.txt"):
    m = re.match(r"\s*(\S+): (.+)$", line)
    if m:
        counts[m.group(2).strip()] += 1
total = sum(counts.values())
killed = counts["killed"] + counts["timeout"]
print(dict(counts))
print(f"mutation score: {killed}/{total} killed = {100 * killed / max(total, 1):.1f}%")
PY
