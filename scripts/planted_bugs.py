"""Plant each planted bug into a copy of icm_app/core, run the core tests there, and check that the
test named for the bug fails (and that all pass on the unmodified copy). Outside CI; ~20 s.

Usage: python scripts/planted_bugs.py        (exit status 1 if a planted bug goes uncaught)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["tests/test_core_search.py", "tests/test_properties.py"]

# (bug, file, original text, planted text, the test named for it)
BUGS = [
    ("every proposal accepted", "annealing.py",
     "accepted = delta > 0 or self.rng.random() < acceptance_probability(delta, t)", "accepted = True",
     "test_a_worse_proposal_is_rejected_at_low_temperature"),
    ("the sign of delta flipped", "annealing.py",
     "delta = evaluation.U - current.U", "delta = current.U - evaluation.U",
     "test_delta_is_new_u_minus_old_u_and_improvements_are_accepted"),
    ("alpha ignored", "objective.py",
     "return self.alpha * self.P - ", "return self.P - ",
     "test_u_weights_p_by_alpha"),
    ("the calibration sign flipped", "objective.py",
     "scores[k] - scores[n + k]", "scores[n + k] - scores[k]",
     "test_calibration_subtracts_the_content_free_score"),
    ("no ConsistencyFix after initialisation", "annealing.py",
     "labels, evaluation, _ = self.consistency_fix(dict(self.labels), None)",
     "labels, evaluation = dict(self.labels), self.objective.evaluate(self.labels)",
     "test_initialization_runs_consistency_fix"),
    ("the target's own label put into its context", "objective.py",
     "contexts = [loo_context(self.order, self.position, labels, t) for t in targets]",
     "contexts = [loo_context(self.order, self.position, labels, t) + ((t, labels[t]),) for t in targets]",
     "test_objective_scores_each_example_leave_one_out"),
    ("uniform sampling (no x100 weight for group-mates)", "annealing.py",
     "i = self.rng.choices(candidates, weights=self._sampling_weights(candidates))[0]",
     "i = self.rng.choices(candidates)[0]",
     "test_group_mates_of_labeled_examples_are_proposed_about_100x_more_often"),
    ("ConsistencyFix taking the first improving option", "annealing.py",
     "        top = max(e.U for _, e in improving)\n", "        return improving[0]\n",
     "test_consistency_fix_takes_the_best_option_not_the_first_improving_one"),
    ("equal log-odds go to label 1", "annealing.py",
     "return self.rng.randint(0, 1)", "return 1",
     "test_a_tied_proposal_draws_from_the_rng_and_an_untied_one_does_not"),
    ("equal-U options go to the first listed", "annealing.py",
     "return tied[0] if len(tied) == 1 else self.rng.choice(tied)", "return tied[0]",
     "test_flat_scorer_asymmetric_pairs_resolve_both_ways"),
    ("a core caller with one pin skips the K random labels", "annealing.py",
     "return self.state.iteration == 0 and set(self.labels) <= set(self.state.pinned)",
     "return not self.labels",
     "test_step_initializes_when_only_pins_exist"),
]  # fmt: skip


def failing_tests(copy: Path) -> set[str]:
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(copy)}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", *TESTS],
        cwd=copy, env=env, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return set(re.findall(r"^FAILED \S+::(\w+)", out, flags=re.M))


def main() -> int:
    uncaught = 0
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp)
        shutil.copytree(ROOT / "icm_app", copy / "icm_app", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(ROOT / "tests", copy / "tests", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
        clean = failing_tests(copy)
        print(f"unmodified core: {len(clean)} failing {sorted(clean)}")
        uncaught += bool(clean)
        for bug, file, original, planted, test in BUGS:
            path = copy / "icm_app" / "core" / file
            source = path.read_text()
            if source.count(original) != 1:
                print(f"CANNOT PLANT {bug!r}: {original!r} not found once in {file}")
                uncaught += 1
                continue
            path.write_text(source.replace(original, planted))
            failed = failing_tests(copy)
            path.write_text(source)
            caught = test in failed
            uncaught += not caught
            print(
                f"{'caught' if caught else 'MISSED'}: {bug} -> {test}"
                + f" (also failing: {len(failed) - caught})"
            )
    return 1 if uncaught else 0


if __name__ == "__main__":
    sys.exit(main())
