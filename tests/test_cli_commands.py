"""Every `icm` command answers --help, and `icm runs` lists what the store holds (it was never run
through the CLI by any test)."""

from __future__ import annotations

import argparse

import pytest
from test_app_pages import make_run

from icm_app import cli


def commands() -> list[str]:
    parser = cli.build_parser()
    return sorted(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices)


@pytest.mark.parametrize("command", commands())
def test_every_command_answers_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: icm {command}") and len(out.splitlines()) > 3


def test_the_commands_are_the_documented_ones():
    assert commands() == sorted(
        [
            "run",
            "resume",
            "runs",
            "export",
            "compare",
            "bench",
            "eval",
            "finetune",
            "batches",
            "baselines",
            "sweep",
            "scale",
            "prepare",
            "app",
        ]
    )


def test_icm_runs_lists_every_run_with_its_status_and_iterations(icm_home, capsys):
    done = make_run("finished one", iterations=6)
    fresh = make_run("never started", run=False)
    assert cli.main(["runs"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert set(lines) == {done, fresh}
    assert "finished" in lines[done] and "it=6/6" in lines[done] and lines[done].endswith("finished one")
    assert "created" in lines[fresh] and "it=0/10" in lines[fresh]
