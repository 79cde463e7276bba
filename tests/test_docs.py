"""The README is a README (the two commands first, at most 200 lines) and every relative link in it and in
docs/ points at a file that exists (the split into docs/ moved every section: a stale path is a dead link)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_opens_with_the_two_commands_and_stays_short():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    assert blocks[:2] == ["bash scripts/setup.sh && .venv/bin/icm app\n", "bash scripts/test.sh\n"]
    assert len(text.splitlines()) <= 200


def test_every_relative_link_resolves():
    dead = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in LINK.findall(doc.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (doc.parent / target).exists():
                dead.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not dead, dead


def test_no_tracker_numbers_in_docs_code_or_tests():
    """A reader has the code, not the tracker: say what a thing is, not which issue asked for it."""
    pattern = re.compile(r"\b[Ii]ssue[ -]?#?\d+|\(issue \d+\)")
    found = []
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "icm_app").rglob("*.py"),
                 *(ROOT / "pages").glob("*.py"), *(ROOT / "tests").glob("*.py")]:  # fmt: skip
        if path.name == "test_docs.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:80]}")
    assert not found, found
