"""Scoring models end to end: harness, predictors, submission files and the `glue` command."""

import json
import zipfile

import numpy as np
import pytest

from eval.batching import encode, length_sorted_batches
from eval.cli import main
from eval.data import load_split
from eval.core.errors import UserError
from eval.harness import EvalSettings, evaluate_model, predict
from eval.metrics import compute_metrics, predictions_from_logits
from eval.predictors import TorchPredictor, label_order
from eval.submission import format_predictions
from eval.tasks import TASKS




def test_length_sorted_batches_cover_every_example_once(tokenizer, glue_tsv):
    data = load_split(TASKS["mrpc"], "dev", glue_tsv)
    encoded = encode(tokenizer, data, max_seq_length=16)
    seen, widths = [], []
    for rows, batch in length_sorted_batches(encoded, batch_size=5):
        seen.extend(rows.tolist())
        widths.append(batch["input_ids"].shape[1])
        assert batch["attention_mask"].sum(axis=1).tolist() == [len(encoded.input_ids[r]) for r in rows]
        assert batch["token_type_ids"].max() == 1  # sentence pairs: segment B is marked
    assert sorted(seen) == list(range(len(data)))
    assert widths == sorted(widths, reverse=True) and max(widths) <= 16


def test_predictions_do_not_depend_on_batching(tokenizer, tiny_classifier, glue_tsv):
    data = load_split(TASKS["sst2"], "dev", glue_tsv)
    predictor = TorchPredictor(str(tiny_classifier), device="cpu")
    one = predict(predictor, tokenizer, data, batch_size=1, max_seq_length=32, progress=False).logits
    many = predict(predictor, tokenizer, data, batch_size=7, max_seq_length=32, progress=False).logits
    np.testing.assert_allclose(one, many, atol=1e-5)


def test_evaluate_model_matches_a_plain_loop(tokenizer, tiny_classifier, glue_tsv):
    import torch
    from transformers import AutoModelForSequenceClassification

    document = evaluate_model(tiny_classifier, [TASKS["rte"]], EvalSettings(data_dir=str(glue_tsv)), progress=False)
    result = document["results"]["rte"]
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier).eval()
    data = load_split(TASKS["rte"], "dev", glue_tsv)
    logits = []
    with torch.no_grad():
        for pair in data.texts:  # one example at a time, no padding at all
            inputs = tokenizer(*pair, truncation=True, max_length=128, return_tensors="pt")
            logits.append(model(**inputs).logits.numpy()[0])
    expected = compute_metrics(TASKS["rte"], predictions_from_logits(TASKS["rte"], np.array(logits)), data.labels)
    assert result["metrics"] == pytest.approx(expected)
    assert result["num_examples"] == 16
    assert document["model"]["parameters"] == sum(p.numel() for p in model.parameters())
    assert document["model"]["size_bytes"] > 0 and document["model"]["precision"] == "fp32"
    assert {"date", "git_revision", "versions", "cpu"} <= set(document)
    assert result["throughput"]["examples_per_second"] > 0


def test_tsv_and_parquet_give_identical_results(tiny_classifier, tiny_regressor, glue_tsv, glue_parquet):
    for model, task in ((tiny_classifier, "mrpc"), (tiny_regressor, "stsb")):
        a = evaluate_model(model, [TASKS[task]], EvalSettings(data_dir=str(glue_tsv)), progress=False)
        b = evaluate_model(model, [TASKS[task]], EvalSettings(data_dir=str(glue_parquet)), progress=False)
        assert a["results"][task]["metrics"] == b["results"][task]["metrics"]


def test_model_checks(tmp_path, tokenizer, tiny_classifier, tiny_regressor):
    with pytest.raises(UserError, match="has 2 output labels but MNLI-m needs 3"):
        TorchPredictor(str(tiny_classifier), device="cpu").check_task(TASKS["mnli"])
    with pytest.raises(UserError, match="has 1 output labels but SST-2 needs 2"):
        TorchPredictor(str(tiny_regressor), device="cpu").check_task(TASKS["sst2"])
    from transformers import BertModel

    from tests.conftest import tiny_bert_config

    BertModel(tiny_bert_config()).save_pretrained(tmp_path / "encoder")
    with pytest.raises(UserError, match="no sequence-classification head"):
        TorchPredictor(str(tmp_path / "encoder"), device="cpu")
    with pytest.raises(UserError, match="does not exist"):
        TorchPredictor(str(tmp_path / "missing"), device="cpu")


def test_named_labels_in_another_order_are_permuted():
    order = label_order({0: "contradiction", 1: "neutral", 2: "entailment"}, TASKS["mnli"])
    assert order.tolist() == [2, 1, 0]
    assert label_order({0: "LABEL_0", 1: "LABEL_1"}, TASKS["sst2"]) is None
    assert label_order({0: "negative", 1: "positive"}, TASKS["sst2"]) is None


def test_submission_format():
    logits = np.array([[0.1, 0.9, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert format_predictions(TASKS["mnli"], [0, 1, 2], logits) == (
        "index\tprediction\n0\tneutral\n1\tentailment\n2\tcontradiction\n")
    assert format_predictions(TASKS["sst2"], [7, 8], logits[:2, :2]) == "index\tprediction\n7\t1\n8\t0\n"
    stsb = format_predictions(TASKS["stsb"], [0, 1, 2], np.array([[-0.4], [2.25], [5.7]]))
    assert stsb == "index\tprediction\n0\t0.000\n1\t2.250\n2\t5.000\n"


@pytest.mark.integration
def test_glue_command_eval_report_predict(tmp_path, tiny_classifier, tiny_regressor, glue_tsv, capsys):
    assert main(["eval", "--model", str(tiny_classifier), "--task", "sst2,mrpc", "--data-dir", str(glue_tsv),
                 "--output", str(tmp_path / "a.json")]) == 0
    assert main(["eval", "--model", str(tiny_regressor), "--task", "stsb", "--data-dir", str(glue_tsv),
                 "--output", str(tmp_path / "b.json"), "--limit", "8"]) == 0
    document = json.loads((tmp_path / "a.json").read_text())
    assert set(document["results"]) == {"sst2", "mrpc"}
    assert json.loads((tmp_path / "b.json").read_text())["results"]["stsb"]["num_examples"] == 8
    assert main(["report", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--output-dir",
                 str(tmp_path / "report")]) == 0
    assert {p.name for p in (tmp_path / "report").iterdir()} == {
        "leaderboard.json", "leaderboard.md", "leaderboard.csv", "leaderboard.html", "score_vs_size.svg",
        "score_vs_throughput.svg"}
    assert main(["predict", "--model", str(tiny_classifier), "--tasks", "sst2,rte", "--data-dir", str(glue_tsv),
                 "--output-dir", str(tmp_path / "sub")]) == 0
    lines = (tmp_path / "sub" / "RTE.tsv").read_text().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == 17
    assert {line.split("\t")[1] for line in lines[1:]} <= {"entailment", "not_entailment"}
    with zipfile.ZipFile(tmp_path / "sub" / "submission.zip") as archive:
        assert sorted(archive.namelist()) == ["RTE.tsv", "SST-2.tsv"]


@pytest.mark.integration
@pytest.mark.parametrize("argv,message", [
    (["eval", "--model", "{model}", "--task", "sst3", "--output", "x.json"], "unknown GLUE task 'sst3'"),
    (["eval", "--model", "{model}", "--task", "mnli", "--data-dir", "{data}", "--output", "x.json"],
     "needs 3"),
    (["eval", "--model", "{model}", "--task", "sst2", "--data-dir", "/no/such/dir", "--output", "x.json"],
     "does not exist"),
    (["eval", "--model", "{model}", "--task", "sst2", "--split", "test", "--data-dir", "{data}", "--output",
      "x.json"], "no labels to score"),
    (["report", "{model}/config.json", "--output-dir", "r"], "not a GLUE results file"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tiny_classifier, glue_tsv, capsys, tmp_path,
                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [a.format(model=tiny_classifier, data=glue_tsv) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


@pytest.mark.parametrize("changes, fragment", [
    ({"batch_size": 0}, "batch size 0"), ({"max_seq_length": 0}, "at least 8"), ({"limit": -5}, "limit -5"),
    ({"threads": -1}, "threads -1"), ({"device": "banana"}, "unknown device 'banana'"), ({"batch_size": 2.5}, "2.5"),
])
def test_eval_settings_are_validated_for_library_callers_too(changes, fragment):
    with pytest.raises(UserError, match=fragment):
        EvalSettings(**changes)
    assert EvalSettings(device="cuda:1", limit=1, threads=1, max_seq_length=8).device == "cuda:1"


def test_prediction_rows_for_task_specs(custom_task, custom_regression_task):
    from eval.submission import format_rows, prediction_rows
    from eval.tasks import get_task

    rows = prediction_rows(get_task(custom_task), [1, 2], np.array([[0.0, 0.0], [3.0, 1.0]]))
    assert rows[0] == {"id": 1, "label": "neg", "score": 0.5, "probabilities": {"neg": 0.5, "pos": 0.5}}
    assert rows[1]["label"] == "neg" and rows[1]["score"] == pytest.approx(1 / (1 + np.exp(-2)), abs=1e-6)
    assert format_rows(rows, "csv").splitlines()[:2] == ["id,label,score,prob_neg,prob_pos", "1,neg,0.5,0.5,0.5"]
    assert json.loads(format_rows(rows, "jsonl").splitlines()[1])["probabilities"]["pos"] == pytest.approx(0.119203)
    regression = prediction_rows(get_task(custom_regression_task), ["a"], np.array([[2.5]]))
    assert regression == [{"id": "a", "score": 2.5}]


@pytest.mark.integration
def test_predict_writes_task_spec_files_and_a_zip_of_exactly_its_glue_files(tmp_path, tiny_classifier, glue_tsv,
                                                                          custom_task, capsys):
    out = tmp_path / "sub"
    out.mkdir()
    (out / "RTE.tsv").write_text("index\tprediction\n")  # an older run's file: not this run's
    (out / "passwd.tsv").symlink_to("/etc/passwd")  # a link: never followed into the zip
    assert main(["predict", "--model", str(tiny_classifier), "--tasks", f"sst2,{custom_task}",
                 "--data-dir", str(glue_tsv), "--output-dir", str(out), "--format", "jsonl"]) == 0
    with zipfile.ZipFile(out / "submission.zip") as archive:
        assert archive.namelist() == ["SST-2.tsv"]
        assert archive.read("SST-2.tsv") == (out / "SST-2.tsv").read_bytes()
    records = [json.loads(line) for line in (out / "custom.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == list(range(1, 17))
    assert all(r["label"] in ("neg", "pos") and sum(r["probabilities"].values()) == pytest.approx(1, abs=1e-5)
               for r in records)
    assert (out / "passwd.tsv").is_symlink()
    assert main(["predict", "--model", str(tiny_classifier), "--tasks", str(custom_task),
                 "--output-dir", str(tmp_path / "only-custom")]) == 0
    assert sorted(p.name for p in (tmp_path / "only-custom").iterdir()) == ["custom.csv"]  # no zip without GLUE
