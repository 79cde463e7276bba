"""Data: load a file or a bundled sample, choose a preset or map columns, preview the prompt, create a run."""

from pathlib import Path

import pandas as pd
import streamlit as st

from icm_app.cli import SAMPLES, SAMPLES_DIR
from icm_app.core.config import SearchConfig
from icm_app.core.consistency import RULES
from icm_app.io.loaders import DataError, build_dataset, read_rows
from icm_app.paths import icm_home
from icm_app.scoring.models import ScorerConfig
from icm_app.tasks.presets import PRESETS, TaskSpec
from icm_app.tasks.template import TemplateError, render
from icm_app.ui.state import get_store, open_run
from icm_app.worker.runner import create_run

st.title("Data")
source = st.radio("Source", ["Bundled sample", "Upload a file"], horizontal=True, key="source")
if source == "Bundled sample":
    sample = st.selectbox("Sample", sorted(SAMPLES), index=sorted(SAMPLES).index("sentiment"), key="sample")
    path, default_preset = SAMPLES_DIR / SAMPLES[sample][0], SAMPLES[sample][1]
else:
    upload = st.file_uploader(
        "CSV, JSON, JSONL or Parquet", type=["csv", "json", "jsonl", "parquet"], key="upload"
    )
    if upload is None:
        st.info("Choose a file to upload.")
        st.stop()
    path = icm_home() / "uploads" / Path(upload.name).name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(upload.getvalue())
    default_preset = "custom"

try:
    rows = read_rows(path)
except DataError as exc:
    st.error(str(exc))
    st.stop()
columns = sorted({str(c) for r in rows for c in r})
st.dataframe(pd.DataFrame(rows[:20]), height=200)

presets = [*PRESETS, "custom"]
preset = st.selectbox("Task preset", presets, index=presets.index(default_preset), key=f"preset_{path.name}")
base = PRESETS.get(preset) or TaskSpec(name="custom", template="{" + columns[0] + "}\nI think this claim is")
none = "(none)"


def pick(label: str, current: str | None, help: str) -> str | None:
    options = [none, *columns]
    chosen = st.selectbox(label, options, index=options.index(current) if current in columns else 0, help=help,
                          key=f"{label}_{preset}_{path.name}")  # fmt: skip
    return None if chosen == none else chosen


left, right = st.columns(2)
with left:
    template = st.text_area("Prompt template ({field} for a column)", base.template, height=120,
                            key=f"template_{preset}_{path.name}")  # fmt: skip
    word1 = st.text_input("Label word for 1 (True)", base.label_words[0], key=f"w1_{preset}")
    word0 = st.text_input("Label word for 0 (False)", base.label_words[1], key=f"w0_{preset}")
with right:
    group = pick(
        "Consistency group column", base.group_field, "Examples in one group are checked by the rules."
    )
    key = pick(
        "Consistency key column",
        base.key_field,
        "A label-free field, e.g. the final answer. Never the gold label.",
    )
    gold = pick(
        "Gold label column (evaluation only)",
        base.gold_field,
        "Used to report agreement; the search never sees it.",
    )
    rules = st.multiselect("Consistency rules", list(RULES), default=list(base.rules), key=f"rules_{preset}")
    limit = st.number_input(
        "Rows to use (0 = all)", min_value=0, value=min(len(rows), 32), step=1, key="limit"
    )

try:
    task = TaskSpec(name=preset, template=template, label_words=(word1, word0), group_field=group, key_field=key,
                    gold_field=gold, rules=tuple(rules), search_overrides=base.search_overrides, notes=base.notes)  # fmt: skip
    dataset = build_dataset(rows[: int(limit) or None], task)
except (DataError, TemplateError, ValueError) as exc:
    st.error(f"Cannot use this mapping: {exc}")
    st.stop()

st.subheader("Prompt preview")
first, second = dataset.examples[0], dataset.examples[min(1, len(dataset.examples) - 1)]
demo = render(task.template, second.fields) + task.label_words[0] + task.separator
st.code(demo + render(task.template, first.fields) + "▌", language=None, wrap_lines=True)
st.caption(f"The model reads demonstrations like the first block, then scores `{word1}` against `{word0}` at ▌. "
           f"{len(dataset.examples)} examples" + (", gold labels present (evaluation only)." if dataset.gold else "."))  # fmt: skip
if task.notes:
    st.caption(task.notes)

name = st.text_input("Run name", f"{preset} on {path.name}", key="run_name")
if st.button("Create run", type="primary", key="create"):
    search = SearchConfig.from_dict({**SearchConfig().to_dict(), **task.search_overrides})
    run_id = create_run(get_store(), dataset, task, search, ScorerConfig(), data_source=str(path), name=name)
    open_run(run_id)
    st.success(f"Created run `{run_id}`. Set its model and hyper-parameters on the Run page.")
    st.page_link("app_pages/run.py", label="Go to Run", icon=":material/play_arrow:")
