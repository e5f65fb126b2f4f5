"""`--task my_task.yaml` through every command that takes a GLUE task: distill, quantize, glue, recipes."""

from __future__ import annotations

import json

import pytest

from distill import cli as distill_cli
from eval import cli as glue_cli
from tests.distill.conftest import FAST

pytestmark = pytest.mark.integration


def _metrics(folder) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def test_finetune_then_eval_and_predict_on_a_custom_task(tmp_path, tiny_teacher, custom_task):
    from transformers import AutoConfig

    out = tmp_path / "teacher"
    assert distill_cli.main(["finetune", "--model", str(tiny_teacher), "--task", str(custom_task),
                             "--output-dir", str(out), "--max-steps", "2", *FAST]) == 0
    metrics = _metrics(out)
    assert metrics["task"] == "custom" and metrics["main_metric"] == "accuracy"
    assert set(metrics["dev"]) == {"accuracy", "f1"}
    assert AutoConfig.from_pretrained(out).id2label == {0: "neg", 1: "pos"}
    results = tmp_path / "results.json"
    assert glue_cli.main(["eval", "--model", str(out), "--task", str(custom_task), "--output", str(results)]) == 0
    entry = json.loads(results.read_text())["results"]["custom"]
    assert entry["task_info"]["is_glue"] is False and entry["num_examples"] == 16
    assert glue_cli.main(["predict", "--model", str(out), "--tasks", str(custom_task),
                          "--output-dir", str(tmp_path / "predictions")]) == 0
    lines = (tmp_path / "predictions" / "custom.csv").read_text().splitlines()
    assert lines[0] == "id,label,score,prob_neg,prob_pos" and len(lines) == 17


def test_label_only_student_on_a_regression_task(tmp_path, tiny_teacher, custom_regression_task):
    out = tmp_path / "baseline"
    assert distill_cli.main(["finetune", "--model", "tiny", "--tokenizer", str(tiny_teacher), "--task",
                             str(custom_regression_task), "--output-dir", str(out), "--max-steps", "2", *FAST]) == 0
    assert set(_metrics(out)["dev"]) == {"pearson", "spearmanr"}


def test_augment_then_task_distill_a_pair_task_from_a_recipe(tmp_path, tiny_mlm, tiny_teacher, custom_pair_task):
    augmented = tmp_path / "augmented"
    assert distill_cli.main(["augment", "--task", str(custom_pair_task), "--model", str(tiny_mlm), "--output-dir",
                             str(augmented), "--set", "variants=2", "--set", "chunk_size=8", "--device", "cpu"]) == 0
    meta = json.loads((augmented / "augment.json").read_text())
    assert meta["task"] == "pairs" and meta["source_examples"] == 16 and meta["examples"] > 16
    recipe = tmp_path / "task.yaml"  # a stage recipe carries the task spec as a plain string
    recipe.write_text(f"task: {custom_pair_task}\nteacher: {tiny_teacher}\nstudent: tiny\n"
                      f"output_dir: {tmp_path / 'student'}\naugmented: {augmented}\n")
    assert distill_cli.main(["task", "--recipe", str(recipe), "--max-steps", "1", *FAST]) == 0
    metrics = _metrics(tmp_path / "student")
    assert metrics["task"] == "pairs" and set(metrics["phases"]) == {"intermediate", "prediction"}
    assert set(metrics["dev"]) == {"accuracy", "f1"}


def test_int8_calibrates_and_guards_on_a_custom_task(tmp_path, tiny_classifier, custom_task):
    from quantize import cli as quantize_cli

    out = tmp_path / "int8"
    assert quantize_cli.main(["int8", "--model", str(tiny_classifier), "--calib", str(custom_task),
                              "--calib-size", "8", "--output-dir", str(out)]) == 0
    record = json.loads((out / "quantization.json").read_text())
    assert record["calibration"]["task"] == str(custom_task) and record["calibration"]["size"] == 8
    assert record["dev"]["task"] == "custom" and record["dev"]["metric"] == "accuracy"
