"""The Run page's settings form, walked field by field from the same field table the page is built from:
every number field fed bad text shows a message under itself and stores nothing (a bare float() on
"abc" filled the page with a traceback; "min share 1.5" was refused under the whole form, naming
`SearchConfig`); fields carry human labels in groups, server options only for a server model."""

from __future__ import annotations

import dataclasses
import math

import pytest
from test_app_pages import make_run, page

from icm_app.core.config import SearchConfig
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import Store
from icm_app.ui.fields import SCORER_FIELDS, SEARCH_FIELDS

BAD_TEXT = ["", "abc", "-1", "0", "1e309", "nan", "12345678901234"]
NUMBER_FIELDS = [
    (cls, f)
    for cls, table in ((SearchConfig, SEARCH_FIELDS), (ScorerConfig, SCORER_FIELDS))
    for f in dataclasses.fields(cls)
    if f.name in table and table[f.name][1] != "Server" and ("int" in str(f.type) or "float" in str(f.type))
]


def acceptable(cls: type, f: dataclasses.Field, text: str) -> bool:
    """The oracle, from Python and the dataclass alone: does this text make a valid setting?"""
    if not text.strip():
        return "None" in str(f.type)
    try:
        value = int(text) if "int" in str(f.type) else float(text)
    except ValueError:
        return False
    if not math.isfinite(value):
        return False
    try:
        cls(**{f.name: value})
    except ValueError:
        return False
    return True


def column_of(at, key: str):
    return next(c for c in at.columns if any(t.key == key for t in c.text_input))


@pytest.mark.parametrize("cls, f", NUMBER_FIELDS, ids=[f.name for _, f in NUMBER_FIELDS])
def test_every_number_field_refuses_bad_text_under_itself_and_stores_nothing(icm_home, cls, f):
    run_id = make_run("fields", run=False)
    store = Store()
    before = (store.run(run_id).search, store.run(run_id).scorer)
    key = f"{run_id}_{f.name}"
    at = page("run", run=run_id).run()
    original = at.text_input(key=key).value
    for text in BAD_TEXT:
        at.text_input(key=key).input(text).run()
        assert not at.exception, f"{f.name} = {text!r}: {at.exception[0].value}"
        errors = [e.value for e in column_of(at, key).error]
        starts = [b for b in at.button if b.key == "start"]
        if acceptable(cls, f, text):
            assert not errors and starts, f"{f.name} = {text!r} is valid but was refused: {errors}"
        else:
            assert errors, f"{f.name} = {text!r}: no message under the field"
            assert "SearchConfig" not in errors[0] and "ScorerConfig" not in errors[0]
            assert not starts, f"{f.name} = {text!r}: the run could start with a wrong setting"
        at.text_input(key=key).input(original).run()
    assert (store.run(run_id).search, store.run(run_id).scorer) == before


def test_a_refusal_names_the_other_field_in_words(icm_home):
    run_id = make_run("shares", run=False)
    at = page("run", run=run_id).run()
    at.text_input(key=f"{run_id}_min_share").input("0.8").run()
    at.text_input(key=f"{run_id}_max_share").input("0.2").run()
    errors = [e.value for e in column_of(at, f"{run_id}_min_share").error]
    assert errors == ["Must be <= “Highest share of label 1 (empty: off)”."]


def test_fields_have_human_labels_in_groups_and_server_options_only_for_a_server(icm_home):
    run_id = make_run("labels", run=False)
    at = page("run", run=run_id).run()
    labels = {w.label for w in [*at.text_input, *at.selectbox, *at.checkbox]}
    assert {"K: examples labeled at the start", "Initial temperature T₀", "How P is computed"} <= labels
    assert not labels & {"k init", "t0", "p mode", "tree tokens", "cache mb"}
    assert "Served model name" not in labels and "Environment variable holding the API key" not in labels
    assert [e.label for e in at.expander if e.label == "Advanced"]
    at.text_input(key=f"{run_id}_model").input("openai:http://127.0.0.1:9/v1").run()
    labels = {w.label for w in at.text_input}
    assert {"Served model name", "Environment variable holding the API key"} <= labels


def test_the_progress_line_follows_the_iterations_typed_before_start(icm_home):
    """After typing 20 iterations the progress line kept "/55" until Start."""
    from test_app_pages import make_run, page

    at = page("run", run=make_run("typed", run=False)).run()
    assert "iteration 0/10" in at.get("progress")[0].proto.text
    next(t for t in at.text_input if t.label.startswith("Iterations")).set_value("20").run()
    assert "iteration 0/20" in at.get("progress")[0].proto.text
    next(t for t in at.text_input if t.label.startswith("Iterations")).set_value("").run()  # automatic
    assert not at.exception and at.button(key="start")
