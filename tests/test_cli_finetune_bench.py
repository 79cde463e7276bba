"""`icm finetune` and `icm bench` run through the CLI on a tiny random-weight Llama saved as a local model
folder (no downloads): what each prints and writes, not only the exit code."""

from __future__ import annotations

import json

import pytest
from conftest import FakeScorer, hashed_signal, tiny_tokenizer
from test_transformers_backend import _llama

from icm_app import cli
from icm_app.core.config import SearchConfig
from icm_app.io.loaders import build_dataset
from icm_app.scoring.models import ScorerConfig
from icm_app.store.sqlite_store import Store
from icm_app.tasks.presets import get_preset
from icm_app.worker.runner import Runner

TASK = get_preset("sentiment")  # label words " positive" / " negative", gold in column "label"


def rows(n: int, start: int = 0) -> list[dict]:
    return [{"text": f"item {i} {'ab' * (i % 3)}", "label": i % 2} for i in range(start, start + n)]


def write_jsonl(path, items: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in items))
    return str(path)


@pytest.fixture
def tiny_model(tmp_path):
    """A tiny Llama with the sentiment label words as single tokens, saved as a local model folder."""
    tokenizer = tiny_tokenizer(TASK.label_words)
    folder = tmp_path / "tiny"
    _llama(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_icm_finetune_trains_on_each_source_prints_its_accuracy_and_saves_its_adapter(
    icm_home, tiny_model, tmp_path, capsys
):
    store = Store()
    run_id = store.create_run(build_dataset(rows(8), TASK), TASK, SearchConfig(iterations=4, k_init=4),
                              ScorerConfig(model=tiny_model), data_source="mem", name="finetuned")  # fmt: skip
    Runner(store, run_id, FakeScorer(hashed_signal(8))).run()  # labels without loading the model
    labeled = len(store.current_labels(run_id))
    test = write_jsonl(tmp_path / "test.jsonl", rows(4, start=100))

    args = ["finetune", run_id, "--test", test, "--epochs", "2", "--rank", "4", "--batch-size", "4"]
    assert cli.main(args) == 0
    out, err = capsys.readouterr()
    result = Store().latest_evaluation(run_id, "finetune")
    assert list(result["sources"]) == ["icm", "gold"] and result["n_test"] == 4
    assert (result["config"]["epochs"], result["config"]["rank"], result["config"]["batch_size"]) == (2, 4, 4)
    assert out.splitlines() == [
        f"fine-tuned on {source} labels ({r['n_train']}): held-out accuracy {r['accuracy']:.3f}; "
        f"adapter {r['adapter']}"
        for source, r in result["sources"].items()
    ]
    for source, r in result["sources"].items():
        assert r["n_train"] == labeled and 0 <= r["accuracy"] <= 1
        assert r["adapter"] == str(icm_home / "adapters" / run_id / source)
        assert (icm_home / "adapters" / run_id / source / "adapter_config.json").exists()
        assert f"LoRA on {source} labels" in err  # the progress bar of each source's training

    assert cli.main([*args, "--sources", "gold"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("fine-tuned on gold labels")
    assert list(Store().latest_evaluation(run_id, "finetune")["sources"]) == ["gold"]


def test_icm_bench_prints_one_table_per_size_with_each_mode_beside_the_naive_reference(
    tiny_model, tmp_path, capsys
):
    data = write_jsonl(tmp_path / "d.jsonl", rows(8))
    code = cli.main(["bench", "--data", data, "--preset", "sentiment", "--model", tiny_model, "--device", "cpu",
                     "--n", "4", "6", "--iterations", "3", "--scoring", "tree", "prefix", "--k-init", "2",
                     "--quiet"])  # fmt: skip
    assert code == 0
    out, err = capsys.readouterr()
    assert "tokens" not in err, "--quiet: no progress lines"
    lines = out.splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith("examples ")]
    assert [lines[i].split(",")[0] for i in heads] == ["examples 4", "examples 6"]
    for i in heads:
        assert "labeled at start 2, iterations 3," in lines[i] and lines[i].endswith(
            "device cpu, dtype float32"
        )
        assert lines[i + 1].split() == ["tree", "prefix", "naive"]
        table = {line[:24].strip(): line[24:].split() for line in lines[i + 2 : i + 12]}
        tokens = [int(t.replace(",", "")) for t in table["model tokens"]]
        assert tokens[0] < tokens[2] and tokens[1] < tokens[2], "tree and prefix reuse what naive recomputes"
        assert all(float(du) < 1e-3 for du in table["max |U - U_ref|"][:2]), "the same U as the reference"
        assert len(table["speed-up vs naive"]) == 3 and table["speed-up vs naive"][2] == "1.0x"
