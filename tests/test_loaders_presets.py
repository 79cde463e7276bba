"""Loaders, presets and the template renderer: gold never reaches the search, ordering never leaks,
and every bad input fails with a DataError/TemplateError that says what and where."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections import defaultdict

import pytest

from icm_app.core.context import shuffled_order
from icm_app.core.types import Example
from icm_app.io.loaders import DataError, build_dataset, parse_gold, read_rows
from icm_app.paths import SAMPLES_DIR
from icm_app.tasks.presets import PRESETS, TaskSpec, get_preset
from icm_app.tasks.template import TemplateError, render, template_fields

SAMPLES = SAMPLES_DIR
SAMPLE_PRESETS = {
    "truthfulqa": "truthfulqa",
    "gsm8k": "gsm8k",
    "alpaca": "alpaca",
    "rt_polarity": "sentiment",
}


def sample(name: str) -> tuple[list[dict], TaskSpec]:
    return read_rows(SAMPLES / f"{name}.jsonl"), get_preset(SAMPLE_PRESETS[name])


def signature(examples: list[Example]) -> list[tuple]:
    return [(e.idx, dict(e.fields), e.group, e.key) for e in examples]


# -- (a) consistency groups/keys never depend on gold -----------------------------------------------
@pytest.mark.parametrize("name", sorted(SAMPLE_PRESETS))
def test_examples_are_identical_whatever_the_gold_labels(name):
    rows, task = sample(name)
    gold_field = task.gold_field
    assert gold_field and all(gold_field in r for r in rows)
    base = build_dataset(rows, task)
    assert base.gold is not None and set(base.gold) == {e.idx for e in base.examples}
    assert sorted(set(base.gold.values())) == [0, 1]

    flipped = [{**r, gold_field: 1 - parse_gold(r[gold_field], task.label_words)} for r in rows]
    values = [r[gold_field] for r in rows]
    random.Random(0).shuffle(values)
    shuffled = [{**r, gold_field: v} for r, v in zip(rows, values)]
    words = [{**r, gold_field: task.label_words[1 - r[gold_field]].strip()} for r in rows]
    without = [{k: v for k, v in r.items() if k != gold_field} for r in rows]

    for variant in (flipped, shuffled, words, without):
        ds = build_dataset(variant, task)
        assert signature(ds.examples) == signature(base.examples)
    assert build_dataset(flipped, task).gold == {i: 1 - y for i, y in base.gold.items()}
    assert build_dataset(without, task).gold is None
    assert signature(build_dataset(rows, task, use_gold=False).examples) == signature(base.examples)


@pytest.mark.parametrize("name", sorted(SAMPLE_PRESETS))
def test_examples_carry_no_gold(name):
    rows, task = sample(name)
    ds = build_dataset(rows, task)
    assert {f.name for f in dataclasses.fields(Example)} == {"idx", "fields", "group", "key"}
    for e in ds.examples:
        assert set(e.fields) == set(task.text_fields)
        assert task.gold_field not in e.fields
    assert task.gold_field not in task.text_fields
    assert task.gold_field not in (task.group_field, task.key_field)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_no_preset_reads_gold_for_prompts_groups_or_keys(preset):
    task = get_preset(preset)
    label_like = {"label", "labels", "gold", "answer_label", "is_correct", task.gold_field}
    assert not label_like & set(task.text_fields)
    assert task.group_field not in label_like and task.key_field not in label_like


def test_get_preset_returns_an_independent_copy():
    a = get_preset("gsm8k")
    a.search_overrides["alpha"] = 1.0
    a.rules = ()
    assert get_preset("gsm8k").rules == ("exclusive", "equivalent")
    assert "alpha" not in get_preset("gsm8k").search_overrides


# -- (b) Alpaca's file order never leaks into the context order -------------------------------------
def test_alpaca_true_claim_precedes_its_partner_about_half_the_time():
    rows, task = sample("alpaca")
    ds = build_dataset(rows, task)
    pairs: dict[str, list[int]] = defaultdict(list)
    for e in ds.examples:
        pairs[e.group].append(e.idx)
    assert len(pairs) == 16 and all(len(m) == 2 for m in pairs.values())
    position = {idx: p for p, idx in enumerate(shuffled_order([e.idx for e in ds.examples], 0))}

    def share_first(first_of_pair) -> float:
        return sum(position[a] < position[b] for a, b in map(first_of_pair, pairs.values())) / len(pairs)

    # the True claim of each pair (the paper's file puts it first; the bundled sample may not)
    def true_first(m):
        return sorted(m, key=lambda i: -ds.gold[i])

    assert all(sorted(ds.gold[i] for i in m) == [0, 1] for m in pairs.values())
    assert 0.25 <= share_first(true_first) <= 0.75
    # and in file order: the first row of each pair, as in the paper's True-first file
    assert 0.25 <= share_first(sorted) <= 0.75


def test_paper_style_true_first_file_does_not_leak(tmp_path):
    """Rewrite the sample so that the True claim is always the first row of its pair, as in the paper."""
    rows, task = sample("alpaca")
    by_pair: dict[int, list[dict]] = defaultdict(list)
    for r in rows:
        by_pair[r["consistency_id"]].append(r)
    ordered = [r for pair in by_pair.values() for r in sorted(pair, key=lambda r: -r["label"])]
    path = tmp_path / "alpaca_true_first.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ordered), encoding="utf-8")
    ds = build_dataset(read_rows(path), task)
    assert all(ds.gold[i] == 1 for i in range(0, len(ordered), 2))
    for seed in range(3):
        position = {idx: p for p, idx in enumerate(shuffled_order(list(ds.gold), seed))}
        first = [position[i] < position[i + 1] for i in range(0, len(ordered), 2)]
        assert 0.25 <= sum(first) / len(first) <= 0.75, f"seed {seed}"


# -- (c) parse_gold ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, expected",
    [
        (True, 1),
        (False, 0),
        (1, 1),
        (0, 0),
        (1.0, 1),
        (0.0, 0),
        ("1", 1),
        ("0", 0),
        ("true", 1),
        ("False", 0),
        (" TRUE ", 1),
        ("yes", 1),
        ("No", 0),
        ("positive", 1),
        (" Negative", 0),
    ],
)
def test_parse_gold_accepts_binary_spellings(value, expected):
    assert parse_gold(value, (" positive", " negative")) == expected


@pytest.mark.parametrize("value", [2, -1, 0.5, "maybe", "", "2", math.nan, None, [1], "true-ish"])
def test_parse_gold_rejects_non_binary(value):
    with pytest.raises(DataError, match="not binary"):
        parse_gold(value, (" True", " False"))


def test_parse_gold_label_words_of_the_task():
    assert parse_gold("Correct", (" Correct", " Wrong")) == 1
    assert parse_gold("wrong", (" Correct", " Wrong")) == 0
    with pytest.raises(DataError):
        parse_gold("positive", (" True", " False"))


# -- (d) build_dataset and read_rows errors -------------------------------------------------------
TQA = get_preset("truthfulqa")


def tqa_rows() -> list[dict]:
    return [
        {"question": "q1", "choice": "c1", "label": 1, "consistency_id": 1},
        {"question": "q1", "choice": "c2", "label": 0, "consistency_id": 1},
        {"question": "q2", "choice": "c3", "label": "true", "consistency_id": 2},
    ]


@pytest.mark.parametrize("column", ["question", "choice", "consistency_id"])
def test_build_dataset_names_a_missing_column(column):
    rows = [{k: v for k, v in r.items() if k != column} for r in tqa_rows()]
    with pytest.raises(DataError, match=f"column '{column}'"):
        build_dataset(rows, TQA)


@pytest.mark.parametrize("empty", ["", "   \n", None, math.nan])
def test_build_dataset_names_the_row_with_an_empty_text(empty):
    rows = tqa_rows()
    rows[2]["choice"] = empty
    with pytest.raises(DataError, match=r"row 2: field 'choice'"):
        build_dataset(rows, TQA)


@pytest.mark.parametrize("gold", [2, "maybe", math.nan])
def test_build_dataset_names_the_row_with_non_binary_gold(gold):
    rows = tqa_rows()
    rows[1]["label"] = gold
    with pytest.raises(DataError, match=r"row 1: gold label .* not binary"):
        build_dataset(rows, TQA)


def test_build_dataset_rejects_no_rows_and_duplicate_ids():
    with pytest.raises(DataError, match="no rows"):
        build_dataset([], TQA)
    task = TaskSpec(name="t", template="{text}", id_field="id")
    with pytest.raises(DataError, match=r"row 1: duplicate id 'a'"):
        build_dataset([{"text": "x", "id": "a"}, {"text": "y", "id": "a"}], task)


def test_build_dataset_keeps_gold_apart():
    ds = build_dataset(tqa_rows(), TQA)
    assert ds.gold == {0: 1, 1: 0, 2: 1}
    assert [(e.group, e.key) for e in ds.examples] == [("1", "c1"), ("1", "c2"), ("2", "c3")]
    assert ds.rows == tqa_rows()


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("bad.jsonl", b'{"text": "a"}\n{"text": \n', "malformed JSON"),
        ("bad.json", b'[{"text": "a"},', "malformed JSON"),
        ("latin1.jsonl", '{"text": "caf\u00e9"}\n'.encode("latin-1"), "not UTF-8"),
        ("latin1.csv", "text\ncaf\u00e9\n".encode("latin-1"), "not UTF-8"),
        ("data.txt", b"text\nhello\n", "unknown format 'txt'"),
        ("data", b"text\nhello\n", "unknown format"),
        ("empty.jsonl", b"", "no rows"),
        ("blank.jsonl", b"\n  \n", "no rows"),
        ("empty.json", b"", "malformed JSON"),
        ("empty_list.json", b"[]", "no rows"),
        ("header.csv", b"text,label\n", "no rows"),
        ("empty.csv", b"", "cannot read csv"),
        ("scalar.json", b"3", "list of objects"),
        ("scalars.jsonl", b"1\n2\n", "must be an object"),
        ("garbage.parquet", b"not parquet", "cannot read parquet"),
    ],
)
def test_read_rows_errors_say_what_is_wrong(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=match) as info:
        read_rows(path)
    assert name in str(info.value)


def test_read_rows_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_rows(tmp_path / "absent.jsonl")


def test_read_rows_formats_agree(tmp_path):
    rows = [{"text": "a", "label": "1"}, {"text": "b, with comma", "label": "0"}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "d.json").write_text(json.dumps({"data": rows}), encoding="utf-8")
    (tmp_path / "d.csv").write_text('text,label\na,1\n"b, with comma",0\n', encoding="utf-8")
    for ext in ("jsonl", "json", "csv"):
        assert read_rows(tmp_path / f"d.{ext}") == rows, ext


def test_malformed_jsonl_names_the_file_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a"}\n{"text": "b"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(DataError, match="line 3, column 10"):
        read_rows(path)


# -- (e) the safe template renderer -------------------------------------------------------------------
def test_template_fields_and_literal_braces():
    assert render("{a} {{x}}", {"a": "1"}) == "1 {x}"
    assert template_fields("{a} {{x}} {b} {a}") == ["a", "b"]
    assert render("{my field}-{x_2}", {"my field": "v", "x_2": "w"}) == "v-w"
    assert render("{a}", {"a": "{b} {0.__class__}"}) == "{b} {0.__class__}", "values are not re-rendered"


@pytest.mark.parametrize(
    "template", ["{a.__class__}", "{0}", "{a", "a}", "{a[0]}", "{a!r}", "{a:>10}", "{}", "{ a}"]
)
def test_template_rejects_anything_but_plain_fields(template):
    with pytest.raises(TemplateError):
        template_fields(template)
    with pytest.raises(TemplateError):
        render(template, {"a": "x", "0": "y", "": "z"})


def test_template_missing_field_is_named():
    with pytest.raises(TemplateError, match="'question'"):
        render("Q: {question} {choice}", {"choice": "c"})


def test_task_spec_rejects_templates_without_fields_and_bad_label_words():
    with pytest.raises(ValueError, match="names no field"):
        TaskSpec(name="t", template="no fields {{here}}")
    with pytest.raises(ValueError, match="label_words"):
        TaskSpec(name="t", template="{text}", label_words=(" Yes", " Yes"))
    with pytest.raises(ValueError, match="group_field"):
        TaskSpec(name="t", template="{text}", rules=("exclusive",))


# -- (f) malformed CSV: what is wrong and where, never the server path --------------
@pytest.mark.parametrize(
    "content, message",
    [
        (
            'text,label\ngood,1\n"bad movie,0\nok,1\n',
            "line 3, column 1: a quote opens here and is never closed",
        ),
        (
            "text,label\ngood,1\nbad, really bad,0\n",
            "line 3, column 3: 3 fields but the header has 2 columns",
        ),
        ('text,label\ngood,1\nbad "movie",0\n"ok"x,1\n', "line 4: malformed CSV"),
    ],
)
def test_malformed_csv_is_refused_with_line_and_column(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as info:
        read_rows(path)
    assert str(info.value).startswith("bad.csv: ") and str(tmp_path) not in str(info.value)


def test_csv_quote_closed_on_a_later_line_is_said_not_silent(tmp_path):
    path = tmp_path / "later.csv"
    path.write_text('text,label\n"good movie,1\nbad movie,0\nok",1\nfine,0\n', encoding="utf-8")
    notes: list[str] = []
    rows = read_rows(path, notes=notes)
    assert len(rows) == 2 and rows[1] == {"text": "fine", "label": "0"}
    assert notes == [
        "later.csv: line 2, column 1 ('text'): a quoted field runs until line 4, so lines 2–4 are read as one "
        "row. If its quote should close on line 2, fix the file."
    ]


def test_csv_reads_quotes_commas_and_missing_trailing_fields(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text('text,label,extra\n"a ""quoted"", comma",1\n\nb,0,x\n', encoding="utf-8")
    assert read_rows(path) == [{"text": 'a "quoted", comma', "label": "1", "extra": ""},
                               {"text": "b", "label": "0", "extra": "x"}]  # fmt: skip


# -- (g) default mapping of a new file: gold proposed by name, never in the template ---
@pytest.mark.parametrize(
    "columns, gold",
    [
        (["text", "label"], "label"),
        (["label", "text"], "label"),
        (["question", "choice", "is_correct"], "is_correct"),
        (["Sentence", "Gold"], "Gold"),
        (["id", "claim", "answer"], "answer"),
        (["a", "b"], None),
    ],
)
def test_gold_is_proposed_by_name_and_never_templated(columns, gold):
    from icm_app.io.mapping import default_template, propose_gold

    assert propose_gold(columns) == gold
    fields = template_fields(default_template(columns, gold))
    assert fields and (gold is None or gold not in fields)


@pytest.mark.parametrize(
    "values, words",
    [
        (["positive", "negative", "positive"], (" positive", " negative")),
        (["negative", "Positive"], (" Positive", " negative")),  # the positive word is 1, whatever the order
        (["ham", "spam"], (" spam", " ham")),
        (["cat", "dog", None, ""], (" cat", " dog")),  # no known word: alphabetical; blanks ignored
        (["0", "1"], None),  # already binary: the loader reads them
        (["true", "false"], None),
        (["a", "b", "c"], None),  # three classes: the multi-class flow, not label words
        (["only"], None),
    ],
)
def test_label_words_are_proposed_from_two_gold_words(values, words):
    """A `label` column of positive/negative was refused ("not binary") until the user typed the words."""
    from icm_app.io.mapping import propose_label_words

    assert propose_label_words(values) == words


def test_a_word_valued_gold_column_gets_a_template_asking_for_that_kind_of_word():
    from icm_app.io.mapping import default_template, propose_gold

    columns = ["review", "sentiment"]
    assert propose_gold(columns) == "sentiment"
    assert default_template(columns, "sentiment", words=(" positive", " negative")) == (
        "Review: {review}\nSentiment:"
    )
    assert default_template(columns, "sentiment").endswith("I think this claim is")
