"""Gold never reaches the search: a template, group or key field that is the gold column is refused by
TaskSpec (so by build_dataset, the Data page and the CLI), with a one-line message naming both fields."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from icm_app.io.loaders import build_dataset
from icm_app.tasks.presets import PRESETS, GoldLeakError, TaskSpec

ROWS = [{"text": f"review {i}", "label": i % 2, "topic": "t", "answer": str(i % 3)} for i in range(6)]

LEAKS = [
    ({"template": "Review: {text} {label}\nSentiment:"}, r"TaskSpec\.template names the gold column 'label'",
     "template"),
    ({"template": "{text}", "group_field": "label"}, r"TaskSpec\.group_field='label' is the gold column",
     "group_field"),
    ({"template": "{text}", "key_field": "label"}, r"TaskSpec\.key_field='label' is the gold column", "key_field"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "message", "field"), LEAKS)
def test_taskspec_refuses_a_field_that_is_the_gold_column(fields, message, field):
    """Catches: a custom task whose template, group or key field is the gold column being accepted."""
    with pytest.raises(GoldLeakError, match=message) as refused:
        TaskSpec(name="custom", gold_field="label", **fields)
    assert isinstance(refused.value, ValueError)
    assert refused.value.field == field
    TaskSpec(name="custom", gold_field="other", **fields)  # the same fields are fine when gold is elsewhere


def test_build_dataset_never_sees_a_leaking_task():
    """build_dataset takes a TaskSpec, which cannot hold a leak; a clean one keeps gold apart from the
    examples the search gets."""
    task = TaskSpec(name="custom", template="Review: {text}", group_field="topic", key_field="answer",
                    gold_field="label")  # fmt: skip
    data = build_dataset(ROWS, task)
    assert data.gold == {i: i % 2 for i in range(6)}
    for e in data.examples:
        assert set(e.fields) == {"text"} and (e.group, e.key) == ("t", str(e.idx % 3))


def test_presets_keep_gold_out_of_the_search():
    for task in PRESETS.values():
        assert task.gold_field not in (*task.text_fields, task.group_field, task.key_field)


def icm(*args: str, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "ICM_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "icm_app.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


CLI_LEAKS = [
    (["--template", "Review: {text} {label}\\nSentiment:", "--gold-field", "label"], "template"),
    (["--template", "{text}", "--group-field", "label", "--gold-field", "label"], "group_field"),
    (["--template", "{text}", "--key-field", "label", "--gold-field", "label"], "key_field"),
    (["--preset", "sentiment", "--key-field", "label"], "key_field"),  # the preset's gold column is `label`
    (["--preset", "sentiment", "--gold-field", "text"], "template"),  # marking the text as gold
]


def write_rows(tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return str(data)


@pytest.mark.parametrize(("args", "field"), CLI_LEAKS)
def test_icm_run_refuses_gold_leaks_with_one_line_and_exit_2(args, field, tmp_path, icm_home, capsys):
    from icm_app.cli import main

    assert main(["run", write_rows(tmp_path), *args, "--iterations", "1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("icm: error: TaskSpec."), lines
    assert field in lines[0] and "gold column" in lines[0]
    assert not (icm_home / "runs.sqlite").exists(), "refused before any run was created"


def test_icm_run_process_exits_2_on_a_gold_leak(tmp_path, icm_home):
    """The same through the real console entry (`python -m icm_app.cli`), as a user sees it."""
    result = icm("run", write_rows(tmp_path), *CLI_LEAKS[0][0], home=icm_home)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "icm: error: TaskSpec.template names the gold column 'label' (gold_field): the model would read the "
        "answer; remove {label} from the template"
    ]


def test_a_task_changed_after_construction_is_checked_again_on_demand():
    task = TaskSpec(name="custom", template="{text}", gold_field="label")
    task.key_field = "label"
    with pytest.raises(GoldLeakError, match=r"key_field='label'"):
        task.refuse_gold_leaks()
