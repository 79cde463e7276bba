"""Every option of run, resume, eval, export, compare and batches, fed a bad value: one line on stderr and
exit status 2, or (for a value that is merely unusual, such as a seed of 0) a command that goes on; never a
traceback. The model is never loaded: a command that gets past its checks to the model stops there.

Caught: `--alpha nan` or `--iterations abc` passed through, a negative --width or --demos reaching the code,
argparse's usage dump instead of one line."""

from __future__ import annotations

import argparse

import pytest
from test_app_pages import make_run

from icm_app import cli

COMMANDS = ("run", "resume", "eval", "export", "compare", "batches", "baselines", "sweep")
NOT_NUMBERS = ["abc", "", "nan", "inf", "-inf", "1e400"]  # never a usable number
UNUSUAL = [
    "-1",
    "0",
    "99999999999999999999",
]  # refused where it makes no sense; otherwise the command goes on
WORDS = ["", "no-such-thing"]


class Reached(Exception):
    """The command got past every check to loading the model."""


def reached(*_a, **_k):
    raise Reached


@pytest.fixture
def runs(icm_home, monkeypatch, tmp_path):
    import icm_app.scoring as scoring
    import icm_app.scoring.models as models
    import icm_app.worker.evaluations as evaluations

    for module, name in ((scoring, "build_scorer"), (evaluations, "build_scorer"), (models, "load_model"),
                         (evaluations, "load_model")):  # fmt: skip
        monkeypatch.setattr(module, name, reached)
    return make_run("one"), make_run("two"), tmp_path


def base(command: str, runs) -> list[str]:
    one, two, tmp = runs
    test_file = str(tmp / "test.jsonl")
    (tmp / "test.jsonl").write_text("".join(f'{{"text": "item {i}", "label": {i % 2}}}\n' for i in range(4)))
    return {
        "run": ["run", "--sample", "sentiment", "--limit", "8"],
        "resume": ["resume", one],
        "eval": ["eval", one, "--test", test_file],
        "export": ["export", one, "--out", str(tmp / "labels.jsonl")],
        "compare": ["compare", one, two],
        "batches": ["batches", "--sample", "sentiment"],
        "baselines": ["baselines", one],
        "sweep": ["sweep", "--sample", "sentiment", "--limit", "8", "--alpha", "10"],
    }[command]


def options(command: str) -> list[argparse.Action]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return [a for a in sub._actions if a.option_strings and a.nargs != 0 and a.dest != "help"
            and not isinstance(a, argparse.BooleanOptionalAction)]  # fmt: skip


def numeric(action: argparse.Action) -> bool:
    """A number option, however it is parsed (argparse's int and float included: a planted plain `float`
    must still be fuzzed)."""
    return action.type in (int, float) or getattr(action.type, "__name__", "") in ("number", "whole number")


def cases() -> list[tuple[str, str, str, bool]]:
    """(command, option, value, must be refused)"""
    out = []
    for command in COMMANDS:
        for action in options(command):
            flag = action.option_strings[0]
            if numeric(action):
                out += [(command, flag, v, True) for v in NOT_NUMBERS]
                out += [(command, flag, v, False) for v in UNUSUAL]
            elif action.choices:
                out.append((command, flag, "no-such-choice", True))
            elif action.nargs in (None, "?", "*", "+"):
                out += [(command, flag, v, False) for v in WORDS]
    return out


@pytest.mark.parametrize("command, flag, value, refused", cases())
def test_a_bad_option_value_is_one_line_and_exit_2_never_a_traceback(
    runs, capsys, command, flag, value, refused
):
    argv = [*base(command, runs), flag, value]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    except Reached:
        code = None
    err = capsys.readouterr().err.strip()
    if refused:
        assert code == 2, f"icm {' '.join(argv)} was accepted"
    if code == 2:
        assert err and "\n" not in err and "Traceback" not in err, err
        assert err.startswith("icm"), err
    else:
        assert code in (0, None, 3), f"icm {' '.join(argv)}: exit {code}: {err}"


def test_every_command_has_its_options_fuzzed():
    counted = {c: sum(1 for case in cases() if case[0] == c) for c in COMMANDS}
    assert all(counted.values()), counted
    assert any(numeric(a) for a in options("run")) and len(options("run")) > 20
