"""Data: load a file or a bundled sample, choose a preset or map columns, preview the prompt, create a run."""

import pandas as pd
import streamlit as st

from icm_app.core.config import SearchConfig
from icm_app.core.consistency import RULES
from icm_app.io.loaders import DataError, build_dataset, read_rows, save_upload
from icm_app.io.mapping import default_template, propose_gold, propose_label_words
from icm_app.paths import SAMPLES, icm_home, sample_path
from icm_app.scoring.models import ScorerConfig
from icm_app.tasks.presets import PRESETS, GoldLeakError, TaskSpec
from icm_app.tasks.template import TemplateError
from icm_app.ui import data_view as view
from icm_app.ui.layout import page_frame, page_link
from icm_app.ui.state import open_run

store, _ = page_frame("Data", needs_run=False)
source = st.radio("Source", ["Bundled sample", "Upload a file"], horizontal=True, key="source")
if source == "Bundled sample":
    names = sorted(SAMPLES)
    sample = st.selectbox("Sample", names, index=names.index("sentiment"), key="sample")
    path, default_preset, file_id = sample_path(sample), SAMPLES[sample][1], f"sample-{sample}"
else:
    upload = st.file_uploader(
        "CSV, JSON, JSONL or Parquet", type=["csv", "json", "jsonl", "parquet"], key="upload"
    )
    if upload is None:
        st.info("Choose a file to upload.")
        st.stop()
    path = save_upload(upload.name, upload.getvalue(), icm_home() / "uploads")
    default_preset, file_id = "custom", f"{path.name}-{path.parent.name}"

notes: list[str] = []
try:
    rows = read_rows(path, notes=notes)
except DataError as exc:
    st.error(str(exc))
    st.stop()
for note in notes:
    st.warning(note)
columns = list(dict.fromkeys(str(c) for r in rows for c in r))  # file order: the first column is not special
st.dataframe(pd.DataFrame(rows[:20]), height=200)

multi = st.toggle("Multi-class: one claim per class", key=f"multi_{file_id}",
                  help="For k classes, each row becomes k True/False claims (\"… The label is <class>.\"), one "
                  "one-of-k group per row: exactly one claim of a row should be True. Exports give one class per row.")  # fmt: skip
presets = [*PRESETS, "custom"]
if multi:
    preset = "multiclass"
else:
    preset = st.selectbox(
        "Task preset", presets, index=presets.index(default_preset), key=f"preset_{file_id}"
    )
scope = f"{preset}_{file_id}"  # every field below starts from this file's and preset's defaults
pick = view.picker(columns, scope)


if multi:
    task, dataset = view.multiclass_mapping(rows, columns, file_id, pick)
    word1, word0 = " True", " False"
else:
    left, right = st.columns(2)
    with right:  # drawn first: the gold column decides the default template
        gold_default = PRESETS[preset].gold_field if preset in PRESETS else propose_gold(columns)
        gold = pick("Gold label column (evaluation only)", gold_default,
                    "Used to report agreement; the search never sees it, and the template must not name it.")  # fmt: skip
        words = propose_label_words(r.get(gold) for r in rows) if gold and preset not in PRESETS else None
        base = PRESETS.get(preset) or TaskSpec(
            name="custom", template=default_template(columns, gold, words=words) or "{x}",
            label_words=words or (" True", " False"),
        )  # fmt: skip
        group = pick(
            "Consistency group column", base.group_field, "Examples in one group are checked by the rules."
        )
        beside = {"group_field": st.empty()}  # a refusal about a field is shown under that field
        key = pick(
            "Consistency key column", base.key_field, "A label-free field, e.g. the final answer; never gold."
        )
        beside["key_field"] = st.empty()
        rules = st.multiselect(
            "Consistency rules", list(RULES), default=list(base.rules), key=f"rules_{scope}"
        )
        limit = st.number_input("Rows to use (0 = all)", min_value=0, max_value=len(rows), value=min(len(rows), 32),
                                step=1, key=f"limit_{file_id}", help=f"This file has {len(rows)} rows.")  # fmt: skip
    with left:
        own = "" if preset in PRESETS else f"_{gold}"  # custom: rebuilt from the gold column chosen
        template = st.text_area("Prompt template ({field} for a column)", base.template, height=120,
                                key=f"template_{scope}{own}")  # fmt: skip
        beside["template"] = st.empty()
        word1 = st.text_input("Label word for 1 (True)", base.label_words[0], key=f"w1_{scope}{own}")
        word0 = st.text_input("Label word for 0 (False)", base.label_words[1], key=f"w0_{scope}{own}")
        if words:
            st.caption(f"Label words proposed from the values of `{gold}`: `{words[0].strip()}` is 1, "
                       f"`{words[1].strip()}` is 0.")  # fmt: skip

    try:
        task = TaskSpec(name=preset, template=template, label_words=(word1, word0), group_field=group, key_field=key,
                        gold_field=gold, rules=tuple(rules), search_overrides=base.search_overrides, notes=base.notes)  # fmt: skip
        dataset = build_dataset(rows[: int(limit) or None], task)
    except (DataError, TemplateError, ValueError) as exc:  # TaskSpec and build_dataset refuse: ValueError
        where = beside.get(exc.field) if isinstance(exc, GoldLeakError) else None
        (where or st).error(f"Cannot use this mapping: {exc}")
        st.stop()

view.prompt_preview(task, dataset, word1, word0)

default_name = f"{len(task.classes)}-class on {path.name}" if multi else f"{preset} on {path.name}"
name = st.text_input("Run name", default_name, key=f"run_name_{scope}_{multi}")
if st.button("Create run", type="primary", key="create"):
    search = SearchConfig.from_dict({**SearchConfig().to_dict(), **task.search_overrides})
    run_id = store.create_run(dataset, task, search, ScorerConfig(), data_source=str(path), name=name)
    open_run(run_id)
    st.success(f"Created run `{run_id}`. Set its model and hyper-parameters on the Run page.")
    page_link("Run", "Go to Run", run_id, icon=":material/play_arrow:")
