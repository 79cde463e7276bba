"""Compare: two or more runs over the same example texts (other seeds, alpha, models) side by side."""

import streamlit as st

from icm_app.evaluation.compare import CompareError, comparable_runs, compare_runs, curves
from icm_app.ui.charts import plot_config
from icm_app.ui.compare_view import agreement_matrix, curves_figure, examples_table, summary_table
from icm_app.ui.layout import page_frame

store, info = page_frame("Compare")
st.caption(
    "Runs are matched by their example texts, not by row number: a run made with another row limit or order "
    "still lines up. Only runs with the same label words that share example texts with the open run are offered."
)
others = comparable_runs(store, info.id)
left_out = len(store.runs()) - 1 - len(others)
if not others:
    st.info(
        "No other run shares example texts (and label words) with this run. Make a second run on the same data, "
        "e.g. with another seed: `icm run --sample sentiment --limit 16 --seed 1`."
    )
    st.stop()
label = {info.id: f"{info.name} · {info.id} (open run)"}
label.update({o.id: f"{o.name} · {o.id} · {n} shared texts" for o, n in others})
asked = [r for r in st.query_params.get("compare", "").split(",") if r in label]  # a sweep's link
chosen = st.multiselect("Runs to compare", list(label), default=asked or [info.id, others[0][0].id],
                        format_func=label.get, key=f"compare_runs_{info.id}")  # fmt: skip
if left_out:
    st.caption(f"{left_out} other run(s) not offered: no example text in common, or other label words.")
if len(chosen) < 2:
    st.info("Pick two or more runs.")
    st.stop()
try:
    c = compare_runs(store, chosen)
except CompareError as exc:  # chosen runs may share texts with the open run but not with each other
    st.error(str(exc))
    st.stop()

share = "n/a" if c.same_share is None else f"{c.same_share:.0%}"
m1, m2, m3 = st.columns(3)
m1.metric("Same label in every run", share, help="Share of the examples labeled in every run whose label is "
          "the same in all of them.")  # fmt: skip
m2.metric("Examples labeled in every run", f"{c.n_same} agree of {c.n_labeled_in_all}")
m3.metric("Example texts shared", c.n_shared)

st.subheader("Search curves")
st.plotly_chart(curves_figure(curves(store, c.run_ids), c.names), config=plot_config(), key="compare_curves")
st.caption("Each run's kept chain. Gold agreement is for evaluation only; the search never sees gold.")

st.subheader("Runs")
st.dataframe(summary_table(c), hide_index=True, column_config={
    "U": st.column_config.NumberColumn(format="%.2f"),
    "gold agreement": st.column_config.NumberColumn(format="%.3f"),
})  # fmt: skip
st.markdown("**Pairwise agreement**: share of the examples both runs labeled that got the same label.")
st.dataframe(agreement_matrix(c), hide_index=True,
             column_config={n: st.column_config.NumberColumn(format="%.3f") for n in c.names})  # fmt: skip

st.subheader("Per example")
only = st.checkbox("Only examples where the runs disagree", key="only_disagreements")
table = examples_table(c, only_disagreements=only)
st.dataframe(table, hide_index=True, height=420, column_config={
    "text": st.column_config.TextColumn(width="large"),
    "all agree": st.column_config.CheckboxColumn(help="Empty: some run left this example unlabeled"),
})  # fmt: skip
st.caption(f"{len(table)} of {len(c.examples)} shared examples" + (
    "".join(f"; {n} example(s) only in {k}" for k, n in c.unmatched.items() if n)))  # fmt: skip
