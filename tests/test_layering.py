"""The architecture, enforced: imports only point down the layers. Read with `ast`, function-level
imports included (an import hidden in a function is still a dependency).

    core          the algorithm: imports nothing of the project but core (and no torch, no streamlit)
    tasks, store  import no io, worker, ui or evaluation
    evaluation    imports no worker (the worker runs evaluations, not the other way round), no io and no
                  scoring: it computes on examples and a Scorer it is handed; reading a file, loading a
                  model and saving the result are the worker's evaluation jobs (worker/evaluations.py)
    ui            is imported by pages only; nothing imports a page
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "icm_app"
HEAVY = ("torch", "streamlit", "transformers", "plotly", "pandas")


def imports(module: str, source: str) -> set[str]:
    """Absolute names of everything `source` (the code of `module`, dotted) imports."""
    found: set[str] = set()
    package = module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.add(name)
            found.update(f"{name}.{a.name}" for a in node.names)
    return found


def layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if parts[0] == "icm_app" and len(parts) > 1 else None


def violations(module: str, source: str) -> list[str]:
    """What `module` imports against the rules above."""
    mine, out = layer(module), []
    for name in sorted(imports(module, source)):
        theirs = layer(name)
        if mine == "core" and (theirs not in (None, "core") or name.split(".")[0] in HEAVY):
            out.append(f"{module} (core) imports {name}")
        if mine in ("tasks", "store") and theirs in ("io", "worker", "ui", "evaluation"):
            out.append(f"{module} ({mine}) imports {name}")
        if mine == "evaluation" and theirs == "worker":
            out.append(f"{module} (evaluation) imports the worker: {name}")
        if mine == "evaluation" and theirs in ("io", "scoring"):
            out.append(f"{module} (evaluation) reads files or loads models ({theirs}): {name}")
        if theirs == "ui" and mine not in ("ui", None):
            out.append(f"{module} ({mine}) imports the ui layer: {name}")
        if name.split(".")[0] == "pages":
            out.append(f"{module} imports a page: {name}")
    return out


def modules() -> list[tuple[str, str]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out.append(
            (dotted, path.read_text())
        )  # a package's __init__ keeps its name: its imports resolve from it
    return out


def test_the_tree_keeps_its_layers():
    found = [v for module, source in modules() for v in violations(module, source)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    "module, source",
    [
        ("icm_app.core.annealing", "from ..worker.runner import Runner"),
        ("icm_app.core.objective", "def f():\n    import torch"),
        ("icm_app.tasks.multiclass", "def f():\n    from ..io.loaders import DataError"),
        ("icm_app.store.sqlite_store", "from icm_app.evaluation import suspects"),
        ("icm_app.store.sqlite_store", "def f():\n    from ..io.loaders import load_dataset"),
        ("icm_app.worker.runner", "from ..ui.charts import events_frame"),
        ("icm_app.evaluation.icl", "import pages"),
        ("icm_app.evaluation.icl", "def f():\n    from ..worker.evaluations import evaluate_run"),
        ("icm_app.evaluation.icl", "from ..io.loaders import load_dataset"),
        ("icm_app.evaluation.baselines", "def f():\n    from ..scoring.models import load_model"),
        ("icm_app.evaluation.salience", "from ..scoring import build_scorer"),
    ],
)
def test_a_planted_upward_import_is_caught(module, source):
    assert violations(module, source)


def test_relative_imports_resolve_to_the_right_layer():
    assert "icm_app.core.config" in imports("icm_app.worker.runner", "from ..core.config import SearchConfig")
    assert "icm_app.io.loaders" in imports("icm_app.io.mapping", "from .loaders import DataError")


def test_pages_are_thin():
    """A page reads state, lays out ui/ pieces and sends commands; logic of its own belongs in ui/."""
    long = {p.name: n for p in (ROOT / "pages").glob("*.py") if (n := len(p.read_text().splitlines())) > 120}
    assert not long, long
