"""One rule folds overrides into labels (core/overrides.fold_override): for random sequences of overrides,
unpins and undos, what the store shows, what the runner gives the search and what the Labels table lists
agree, before and after the runner applies them."""

from __future__ import annotations

import tempfile
from pathlib import Path

from conftest import FakeScorer, hashed_signal
from hypothesis import given
from hypothesis import strategies as st

from icm_app.core.config import SearchConfig
from icm_app.core.overrides import fold_override
from icm_app.io.loaders import build_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import TaskSpec
from icm_app.worker.runner import Runner

N = 6
TASK = TaskSpec(name="t", template="Text: {text}\nLabel:", gold_field="label")
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("override"), st.integers(0, N - 1), st.sampled_from([0, 1, None]), st.just(False)),
        st.tuples(st.just("restore"), st.integers(0, N - 1), st.sampled_from([0, 1, None]), st.booleans()),
    ),
    max_size=12,
)


def test_fold_override_by_hand():
    assert fold_override(0, False, kind="override", new_label=1, new_pinned=True) == (1, True)
    assert fold_override(1, True, kind="override", new_label=None, new_pinned=False) == (1, False)  # unpin
    assert fold_override(None, False, kind="override", new_label=None, new_pinned=False) == (None, False)
    assert fold_override(1, True, kind="restore", new_label=0, new_pinned=False) == (0, False)
    assert fold_override(1, True, kind="restore", new_label=None, new_pinned=True) == (None, False)


def views(store: Store, run_id: str, runner: Runner | None = None) -> dict[str, dict[int, tuple[int, bool]]]:
    from icm_app.ui.tables import labels_table

    shown = {i: (v["label"], v["pinned"]) for i, v in store.labels(run_id).items()}
    table = labels_table(store, run_id)
    listed = {int(r.idx): (int(r.label), bool(r.pinned)) for r in table.itertuples() if r.label == r.label}
    out = {"store": shown, "table": listed,
           "current": {i: (y, shown[i][1]) for i, y in store.current_labels(run_id).items()}}  # fmt: skip
    if runner is not None:
        a = runner.annealer
        out["search"] = {i: (y, i in a.state.pinned) for i, y in a.labels.items()}
    return out


@given(OPS)
def test_store_runner_and_table_agree_on_every_sequence_of_overrides(ops):
    with tempfile.TemporaryDirectory() as home:
        store = Store(Path(home) / "runs.sqlite")
        rows = [{"text": f"item {i}", "label": i % 2} for i in range(N)]
        run_id = store.create_run(build_dataset(rows, TASK), TASK, SearchConfig(iterations=2, k_init=2, complete=False),
                                  ScorerConfig(), data_source="mem", name="fold")  # fmt: skip
        Runner(store, run_id, FakeScorer(hashed_signal(N))).run()  # some labeled, some not
        expected = {i: (v["label"], v["pinned"]) for i, v in store.labels(run_id).items()}
        for kind, idx, label, pinned in ops:
            if kind == "override":
                store.add_override(run_id, idx, label, who="prop")
            else:
                store.restore_label(run_id, idx, label, pinned and label is not None, who="prop")
            before = expected.get(idx, (None, False))
            after = fold_override(
                *before, kind=kind, new_label=label, new_pinned=pinned and label is not None
            )
            if after[0] is None:
                expected.pop(idx, None)
            else:
                expected[idx] = after
        seen = views(store, run_id)
        assert seen["store"] == seen["table"] == seen["current"] == expected
        runner = Runner(store, run_id, FakeScorer(hashed_signal(N)))
        runner._apply_overrides()
        assert views(store, run_id, runner)["search"] == expected
        store.close()


def test_an_undo_restores_the_pin_it_recorded_and_never_pins_unlabeled():
    """An undo of an override that had pinned a label must pin it again; caught: a restore that always
    unpins (the search would then be free to flip a label the researcher fixed)."""
    assert fold_override(0, False, kind="restore", new_label=1, new_pinned=True) == (1, True)
    assert fold_override(1, True, kind="restore", new_label=0, new_pinned=False) == (0, False)
    assert fold_override(1, True, kind="restore", new_label=None, new_pinned=True) == (None, False)
