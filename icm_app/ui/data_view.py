"""The Data page's pieces: column pickers, the multi-class mapping and the prompt preview."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from ..core.types import Dataset
from ..errors import DataError
from ..io.loaders import build_dataset
from ..io.mapping import TEXT_NAMES, propose_gold
from ..tasks.multiclass import class_template, multiclass_task
from ..tasks.presets import TaskSpec
from ..tasks.template import TemplateError, render

NONE = "(none)"
Picker = Callable[[str, "str | None", str], "str | None"]


def picker(columns: list[str], scope: str) -> Picker:
    """A column selectbox with a "(none)" choice, keyed by the file and preset (`scope`)."""

    def pick(label: str, current: str | None, help: str) -> str | None:
        options = [NONE, *columns]
        chosen = st.selectbox(label, options, index=options.index(current) if current in columns else 0,
                              help=help, key=f"{label}_{scope}")  # fmt: skip
        return None if chosen == NONE else chosen

    return pick


def multiclass_mapping(
    rows: list[dict[str, Any]], columns: list[str], file_id: str, pick: Picker
) -> tuple[TaskSpec, Dataset]:
    """Class names, text column, gold class and claim template; stops the page until they make claims."""
    left, right = st.columns(2)
    with right:
        gold_default = propose_gold(columns)
        gold = pick("Gold class column (evaluation only)", gold_default,
                    "The class each row truly has, to report agreement; the search never sees it.")  # fmt: skip
        limit = st.number_input("Rows to use (0 = all)", min_value=0, max_value=len(rows), value=min(len(rows), 16),
                                step=1, key=f"limit_{file_id}_multi",
                                help=f"This file has {len(rows)} rows; each becomes one claim per class.")  # fmt: skip
    with left:
        class_names = st.text_input("Class names (comma-separated)", key=f"classes_{file_id}",
                                    placeholder="positive, negative, neutral")  # fmt: skip
        text_options = [c for c in columns if c != gold] or columns
        text_default = next((c for c in text_options if c.strip().lower() in TEXT_NAMES), text_options[0])
        text_field = st.selectbox("Column holding the text", text_options, index=text_options.index(text_default),
                                  key=f"class_text_{file_id}")  # fmt: skip
        template = st.text_area(
            "Claim template ({field} for a column, {icm_class} for the class)", class_template(text_field, gold),
            height=120, key=f"class_template_{file_id}_{text_field}_{gold}",
        )  # fmt: skip
    if not class_names.strip():
        st.info("Enter the class names, e.g. `positive, negative, neutral`.")
        st.stop()
    try:
        task = multiclass_task(text_field, class_names, gold_field=gold, template=template, name="multiclass")
        dataset = build_dataset(rows[: int(limit) or None], task)
    except (DataError, TemplateError, ValueError) as exc:
        st.error(f"Cannot build the claims: {exc}")
        st.stop()
    n_rows = len(dataset.examples) // len(task.classes)
    st.caption(f"{n_rows} rows × {len(task.classes)} classes = {len(dataset.examples)} claims; the claims of one "
               "row form a one-of-k group (rule `one_of_k`: two True claims, or none, count as violations).")  # fmt: skip
    return task, dataset


def prompt_preview(task: TaskSpec, dataset: Dataset, word1: str, word0: str) -> None:
    """A demonstration then a query, exactly as the model reads them."""
    st.subheader("Prompt preview")
    first, second = dataset.examples[0], dataset.examples[min(1, len(dataset.examples) - 1)]
    if dataset.gold is not None:
        word = task.label_words[0 if dataset.gold[second.idx] == 1 else 1]
        how = "The demonstration shows its gold label here; in the search, demonstrations carry ICM's own labels."
    else:
        word = f" ⟨{word1.strip()} or {word0.strip()}⟩"
        how = "In the search, each demonstration carries the label ICM currently gives it."
    demo = render(task.template, second.fields) + word + task.separator
    st.code(demo + render(task.template, first.fields) + "▌", language=None, wrap_lines=True)
    st.caption(f"The model reads demonstrations like the first block, then scores `{word1}` against `{word0}` at ▌. "
               f"{how} {len(dataset.examples)} examples" + (", gold labels present (evaluation only)." if dataset.gold else "."))  # fmt: skip
    if task.notes:
        st.caption(task.notes)
