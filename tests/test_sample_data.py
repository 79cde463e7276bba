"""The bundled samples are clean text: no row holds UTF-8 that was decoded as Latin-1 (mojibake such as
"crÃ¨me brÃ»lÃ©e"), which the model would read as noise and the pages would show."""

from __future__ import annotations

import json

import pytest

from icm_app.paths import SAMPLES_DIR


def mojibake(text: str) -> bool:
    """True if `text` reads as UTF-8 bytes decoded as Latin-1/cp1252: re-encoding gives valid, different UTF-8."""
    for codec in ("latin-1", "cp1252"):
        try:
            fixed = text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if fixed != text:
            return True
    return False


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def test_the_detector_tells_mojibake_from_clean_text():
    assert mojibake("rancid crÃ¨me brÃ»lÃ©e")
    assert mojibake("clichÃ©s")
    assert not mojibake("rancid crème brûlée")
    assert not mojibake("plain ascii , lower-cased .")


@pytest.mark.parametrize("path", sorted(SAMPLES_DIR.glob("*.jsonl")), ids=lambda p: p.name)
def test_no_sample_row_holds_mojibake(path):
    bad = [
        (n, s)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for s in strings(json.loads(line))
        if mojibake(s)
    ]
    assert not bad, f"{path.name}: mojibake on lines {[n for n, _ in bad]}: {bad[0][1][:80]!r}"
