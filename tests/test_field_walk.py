"""Every text field on every page, fed what a new user types by mistake, renders without an exception and
stores nothing (no button is pressed: typing alone must never write). The Run page's settings form has its
own walk, from the field table it is built from (test_run_form.py).

Caught: a bare float()/int() of a field outside the page's guard (the Evaluate page's seeds "0 abc" raised
"invalid literal for int()"), a filter that dereferences an empty text."""

from __future__ import annotations

import pytest
from test_app_pages import FILES, make_run, page

from icm_app.store.sqlite_store import Store

TYPED = ["", "abc", "-1", "0", "1e400", "nan", "0 abc", "{", "  "]
PAGES = ["home", *sorted(FILES)]


def stored(store: Store) -> tuple:
    runs = store.runs()
    return (
        [(r.id, r.status, r.search, r.scorer, r.task) for r in runs],
        [len(store.overrides(r.id)) for r in runs],
        [store.latest_evaluation(r.id, "icl") for r in runs],
    )


@pytest.mark.parametrize("name", PAGES)
def test_every_text_field_takes_any_text_without_a_traceback_or_a_write(icm_home, name):
    run_id = make_run("walked")
    store = Store()
    before = stored(store)
    first = page(name, run=run_id).run()
    fields = [
        (kind, n, w.label) for kind in ("text_input", "text_area") for n, w in enumerate(getattr(first, kind))
    ]
    for kind, n, label in fields:
        for value in TYPED:
            at = page(name, run=run_id).run()
            getattr(at, kind)[n].set_value(value).run()
            assert not at.exception, f"{name} page, {label!r} = {value!r}: {at.exception[0].value}"
    assert stored(store) == before, f"typing on the {name} page changed the store"


def test_seeds_that_are_not_whole_numbers_are_refused_under_the_field(icm_home):
    at = page("evaluate", run=make_run("evaluated")).run()
    seeds = next(t for t in at.text_input if t.label == "Seeds")
    seeds.set_value("0 abc").run()
    assert any("“abc” is not a whole number" in e.value for e in at.error)
    assert at.button(key="run_eval").disabled
    next(t for t in at.text_input if t.label == "Seeds").set_value("0, 1 2").run()
    assert not at.error and not at.button(key="run_eval").disabled
