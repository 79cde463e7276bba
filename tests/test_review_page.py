"""The Review page (card view) and the Labels page's bulk override, rendered with AppTest.

Fake-scorer runs check what each button does to the store; the real bundled runs check the card view end to
end on a real model's labels (the screenshot in docs/screenshots/review.png is of the 32-example runs).
"""

from __future__ import annotations

import json

import pytest
from conftest import FakeScorer, hashed_signal
from test_app_pages import page

from icm_app.core.config import SearchConfig
from icm_app.evaluation.suspects import precision_at_k, run_suspects, sigmoid
from icm_app.io.loaders import build_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import TaskSpec
from icm_app.worker.runner import Runner

LONG = " ".join(f"word{i}" for i in range(120))  # far longer than any table cell shows


def long_run() -> str:
    """A finished fake-scorer run over 12 examples whose texts are long, with gold."""
    store = Store()
    task = TaskSpec(
        name="t", template="Text: {text}\nLabel:", gold_field="label", label_words=(" good", " bad")
    )
    rows = [{"text": f"item {i}: {LONG} end{i}", "label": i % 2} for i in range(12)]
    run_id = store.create_run(build_dataset(rows, task), task, SearchConfig(iterations=10), ScorerConfig(),
                              data_source="mem", name="long")  # fmt: skip
    Runner(store, run_id, FakeScorer(hashed_signal(12))).run()
    return run_id


def card(at) -> int:
    """The idx of the example on the card."""
    return int(next(h.value for h in at.subheader if h.value.startswith("Example ")).split()[1])


def test_the_card_shows_the_most_suspect_example_in_full_with_its_probabilities(icm_home):
    """Catches truncated text, a card that is not the ranking's first, and P(word) read from the wrong side."""
    run_id = long_run()
    store = Store()
    top = run_suspects(store, run_id)[0]
    at = page("review").run()
    assert not at.exception
    assert card(at) == top.idx
    assert f"item {top.idx}: {LONG} end{top.idx}" in [t.value for t in at.text]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"P(good)": f"{top.p_label1:.2f}", "P(bad)": f"{1 - top.p_label1:.2f}"}
    assert top.p_label1 == pytest.approx(sigmoid(store.labels(run_id)[top.idx]["score"]))
    assert at.button(key="set_1").proto.shortcut == "g" and at.button(key="set_0").proto.shortcut == "b"
    assert at.button(key="undo").proto.shortcut == "u" and at.button(key="skip").proto.shortcut == "right"
    assert any(top.reason in m.value for m in at.markdown)  # why it is suspect


def test_a_label_button_overrides_with_who_and_undo_restores_label_and_pin(icm_home):
    """Catches an undo that only unpins (leaving the new label) or pins what was not pinned before."""
    run_id = long_run()
    store = Store()
    at = page("review").run()
    first = card(at)
    before = store.labels(run_id)[first]
    assert not before["pinned"]
    at.text_input(key="review_who").set_value("Ada")
    at.button(key=f"set_{1 - before['label']}").click().run()
    after = store.labels(run_id)[first]
    assert after["label"] == 1 - before["label"] and after["pinned"]
    trail = store.overrides(run_id)[-1]
    assert (trail["idx"], trail["who"], trail["new_label"]) == (first, "Ada", 1 - before["label"])
    assert card(at) != first  # on to the next card
    at.button(key="undo").click().run()
    assert card(at) == first
    restored = store.labels(run_id)[first]
    assert (restored["label"], restored["pinned"]) == (before["label"], False)
    assert store.overrides(run_id)[-1]["who"] == "Ada"  # the undo is in the audit trail too
    history = at.dataframe[-1].value  # the card's label history shows both, with the name
    assert [c.split()[0] for c in history["cause"]][-2:] == ["override", "restore"] and set(
        history["who"]
    ) >= {"Ada"}
    assert at.button(key="undo").disabled  # nothing left to undo


def test_undo_puts_back_a_human_pin_exactly(icm_home):
    """An example pinned to a label by hand, relabeled in the card view: undo pins it to the old label again."""
    run_id = long_run()
    store = Store()
    at = page("review").run()
    first = card(at)
    old = store.labels(run_id)[first]["label"]
    store.add_override(run_id, first, old, who="earlier")
    at.run()
    at.button(key="unpin").click().run()  # unpinning is a change too
    assert not store.labels(run_id)[first]["pinned"]
    at.button(key="undo").click().run()
    assert (store.labels(run_id)[first]["label"], store.labels(run_id)[first]["pinned"]) == (old, True)
    at.button(key=f"set_{1 - old}").click().run()
    at.button(key="undo").click().run()
    assert (store.labels(run_id)[first]["label"], store.labels(run_id)[first]["pinned"]) == (old, True)


def test_skip_back_and_neighbours_move_through_the_order(icm_home):
    run_id = long_run()
    order = [s.idx for s in run_suspects(Store(), run_id)]
    at = page("review").run()
    assert card(at) == order[0] and at.button(key="back").disabled
    at.button(key="skip").click().run()
    assert card(at) == order[1]
    at.button(key="skip").click().run()
    at.button(key="back").click().run()
    assert card(at) == order[1]
    at.button(key=f"goto_{order[3]}").click().run()  # a neighbour
    assert card(at) == order[3]
    at.selectbox(key=f"review_order_{run_id}").set_value("index").run()
    assert card(at) == 0
    assert not Store().overrides(run_id)  # moving changes no label


def test_review_the_top_k_restricts_the_cards(icm_home):
    """Catches a top K that still lets the reviewer skip past the K-th card."""
    run_id = long_run()
    order = [s.idx for s in run_suspects(Store(), run_id)]
    at = page("review").run()
    at.number_input(key=f"review_k_{run_id}").set_value(3).run()
    at.button(key="review_top").click().run()
    assert "3 cards" in " ".join(c.value for c in at.caption)
    seen = [card(at)]
    while not at.button(key="skip").disabled:
        at.button(key="skip").click().run()
        seen.append(card(at))
    assert seen == order[:3]


# -- the Labels page: bulk override ------------------------------------------------------------------------
def test_bulk_override_needs_a_confirmation_that_states_the_count(icm_home):
    """Catches an override applied on the first click, a count that is not the filtered one, and a confirm
    that overrides more (or fewer) examples than it said."""
    run_id = long_run()
    store = Store()
    at = page("labels").run()
    at.text_input(key="search").set_value("item 1").run()  # item 1, item 10, item 11
    shown = sorted(at.dataframe[0].value["idx"].tolist())
    assert shown == [1, 10, 11]
    at.radio(key=f"bulk_label_{run_id}").set_value(at.radio(key=f"bulk_label_{run_id}").options[0])
    at.button(key="bulk_start").click().run()
    assert not store.overrides(run_id)  # nothing before the confirmation
    labels = store.labels(run_id)
    change = sum(labels[i]["label"] != 1 for i in shown)
    warning = at.warning[0].value
    assert "3 examples" in warning and f"{change} change label" in warning
    at.button(key="bulk_confirm").click().run()
    labels = store.labels(run_id)
    assert all(labels[i]["label"] == 1 and labels[i]["pinned"] for i in shown)
    assert sorted(o["idx"] for o in store.overrides(run_id)) == shown
    assert sum(v["pinned"] for v in labels.values()) == 3
    assert "3 examples" in at.success[0].value


def test_bulk_override_can_be_cancelled(icm_home):
    run_id = long_run()
    at = page("labels").run()
    at.radio(key=f"bulk_label_{run_id}").set_value(at.radio(key=f"bulk_label_{run_id}").options[1])
    at.button(key="bulk_start").click().run()
    assert "12 examples" in at.warning[0].value
    at.button(key="bulk_cancel").click().run()
    assert not Store().overrides(run_id) and not at.warning


def test_labels_page_shows_an_examples_history_and_offers_the_audit_csv(icm_home):
    run_id = long_run()
    store = Store()
    store.add_override(run_id, 4, 1, who="Ada", note="by hand")
    at = page("labels").run()
    assert not at.exception
    assert "suspicion" in at.dataframe[0].value.columns
    at.selectbox(key=f"history_idx_{run_id}").set_value(4).run()
    history = at.dataframe[-1].value
    assert "Ada" in history["who"].tolist()
    assert at.get("download_button")
    pending = history[history["who"] == "Ada"].iloc[-1]  # not applied yet: no worker ran since
    assert (pending["chain"], pending["iteration"]) == ("", "pending — applies at the next iteration")
    assert "None" not in history.astype(str).to_string() and "<NA>" not in history.astype(str).to_string()
    audit = next(d.value for d in at.dataframe if "applied at iteration" in d.value.columns)
    assert (
        audit["when"].iloc[-1] == pending["when"]
    )  # one timestamp format in the audit trail and the history


# -- the Evaluate page: precision at K ----------------------------------------------------------------------
def test_evaluate_page_shows_precision_at_k_against_a_random_k(icm_home):
    """Catches bars that are not precision_at_k's numbers, or a K beyond the labeled count."""
    run_id = long_run()
    store = Store()
    ranking = run_suspects(store, run_id)
    labels = {s.idx: s.label for s in ranking}
    gold = {e["idx"]: e["gold"] for e in store.examples(run_id)}
    at = page("evaluate").run()
    assert not at.exception and "Suspect labels (ranked without gold)" in [h.value for h in at.subheader]
    chart = next(c for c in at.get("plotly_chart") if "Precision at K" in c.proto.spec)
    bars = json.loads(chart.proto.spec)["data"]
    assert bars[0]["x"] == ["K = 5", "K = 10", "K = 12"]  # 20 capped at the 12 labeled
    assert bars[0]["y"] == [precision_at_k(ranking, labels, gold, k)["precision"] for k in (5, 10, 12)]
    assert bars[1]["y"] == [precision_at_k(ranking, labels, gold, 5)["random"]] * 3
    p5 = precision_at_k(ranking, labels, gold, 5)
    assert any(f"**{p5['wrong_in_top']}** disagree with gold" in m.value for m in at.markdown)


def test_evaluate_page_without_gold_says_precision_needs_it_and_shows_the_ranking(icm_home):
    run_id = long_run()
    store = Store()
    store.db.execute("UPDATE examples SET gold = NULL WHERE run_id = ?", (run_id,))
    at = page("evaluate").run()
    assert not at.exception
    assert any("Precision at K needs gold" in i.value for i in at.info)
    top = next(d.value for d in at.dataframe if "why" in d.value.columns)
    assert top["idx"].tolist() == [s.idx for s in run_suspects(store, run_id)[:10]]
    assert "gold" not in top.columns


# -- the real bundled model ----------------------------------------------------------------------------------
@pytest.mark.model
def test_review_a_real_run_by_card(copy_bundled_runs):
    """The card view on a real model's run: the most suspect label first, its probability, override and undo."""
    run_id = copy_bundled_runs[0]
    store = Store()
    top = run_suspects(store, run_id)[0]
    at = page("review", run=run_id).run()
    assert not at.exception and card(at) == top.idx
    before = store.labels(run_id)[top.idx]
    at.button(key=f"set_{1 - before['label']}").click().run()
    assert store.labels(run_id)[top.idx]["label"] == 1 - before["label"]
    at.button(key="undo").click().run()
    after = store.labels(run_id)[top.idx]
    assert (after["label"], after["pinned"]) == (before["label"], before["pinned"])
    print(f"top suspect of {store.run(run_id).name}: #{top.idx} {top.suspicion:.2f} ({top.reason})")
