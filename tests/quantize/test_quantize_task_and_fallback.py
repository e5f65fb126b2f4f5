"""Issue 27's honesty items: a guard that keeps most nodes FP32 is an error, not a saved "INT8"
model; without ``--calib`` a model is calibrated and scored on the task it was trained on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from eval.tasks import get_task
from quantize import api, driver
from quantize.cli import main
from quantize.guard import GuardResult
from quantize.sources import model_task
from tests.conftest import assert_user_error
from tests.quantize.conftest import tiny_int8_config


def _keep_all_but_two_fp32(groups, build, score, fp32_metric, max_drop, base=(), probe=None):
    """The guard's outcome when only two nodes could stay INT8 within ``max_drop``."""
    names = [name for group in groups.values() for name in group]
    kept = base + tuple(names[2:])
    model = build(kept)
    return GuardResult(model, fp32_metric, score(model), tuple(names[2:]), kept, True)


def _int8_argv(model, out, glue, *extra) -> list[str]:
    return ["int8", "--model", str(model), "--output-dir", str(out), "--calib-size", "4", "--data-dir", str(glue),
            "--max-seq-length", "32", *extra]


# ------------------------------------------------------------------ item 1: mostly FP32 is no quiet success


def test_a_guard_that_keeps_most_nodes_fp32_is_a_one_line_error_leaving_nothing(tmp_path, onnx_fp32, glue_tsv,
                                                                                capsys, monkeypatch):
    monkeypatch.setattr(driver, "run_guard", _keep_all_but_two_fp32)
    out = tmp_path / "int8"
    message = assert_user_error(main, _int8_argv(onnx_fp32, out, glue_tsv, "--calib", "sst2", "--max-drop", "0.5"),
                                capsys, "quantizable nodes in FP32 to stay within --max-drop 0.5", "x smaller",
                                "x faster", "not an INT8 model", "--calib-size", "--allow-fallback",
                                nothing_written=out)
    total = int(message.split(" of ", 1)[1].split()[0])
    assert f"kept {total - 2} of {total} quantizable nodes" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no staging folder, no lock


def test_allow_fallback_keeps_the_result_with_a_warning(tmp_path, onnx_fp32, glue_tsv, capsys, monkeypatch):
    monkeypatch.setattr(driver, "run_guard", _keep_all_but_two_fp32)
    out = tmp_path / "int8"
    assert main(_int8_argv(onnx_fp32, out, glue_tsv, "--calib", "sst2", "--max-drop", "0.5",
                           "--allow-fallback")) == 0
    captured = capsys.readouterr()
    record = json.loads((out / "quantization.json").read_text())
    assert record["quantized_nodes"] == 2 and record["config"]["allow_fallback"] is True
    assert f"kept {record['quantizable_nodes'] - 2} of {record['quantizable_nodes']}" in captured.out
    assert "warning: this is hardly an INT8 model" in captured.err


def test_the_threshold_is_a_share_of_the_quantizable_nodes():
    record = {"quantizable_nodes": 10, "quantized_nodes": 5, "excluded_layers": ["layer.0"], "calibration": None,
              "guard": {"fits": True}, "size_bytes": {"ratio": 1.5}, "latency": {"speedup": 1.2},
              "dev": {"drop_points": 0.4}}
    cfg = tiny_int8_config("m", "out", "data", max_drop=0.5)
    driver.refuse_fallback(cfg, record)  # half INT8: an INT8 model
    driver.refuse_fallback(cfg, {**record, "quantized_nodes": 1, "excluded_layers": []})  # no guard fallback
    with pytest.raises(Exception, match="kept 6 of 10 quantizable nodes in FP32 to stay within"):
        driver.refuse_fallback(cfg, {**record, "quantized_nodes": 4})
    with pytest.raises(Exception, match=r"still loses 2\.00 points \(> --max-drop 0\.5\)"):
        driver.refuse_fallback(cfg, {**record, "quantized_nodes": 4, "guard": {"fits": False},
                                        "dev": {"drop_points": 2.0}})
    driver.refuse_fallback(tiny_int8_config("m", "out", "data", max_drop=0.5, allow_fallback=True),
                              {**record, "quantized_nodes": 1})


def test_a_guard_result_under_one_and_a_half_times_smaller_is_refused_too():
    record = {"quantizable_nodes": 10, "quantized_nodes": 8, "excluded_layers": ["layer.0"], "calibration": None,
              "guard": {"fits": True}, "size_bytes": {"ratio": 1.4}, "latency": {"speedup": 1.1},
              "dev": {"drop_points": 0.4}}
    cfg = tiny_int8_config("m", "out", "data", max_drop=0.5)
    with pytest.raises(Exception, match=r"1\.40x smaller.*--allow-fallback"):
        driver.refuse_fallback(cfg, record)
    driver.refuse_fallback(cfg, {**record, "size_bytes": {"ratio": 1.5}})
    driver.refuse_fallback(cfg, {**record, "excluded_layers": []})  # no fallback: the model is what it is


def test_a_max_drop_below_one_dev_example_warns(capsys):
    from eval.tasks import get_task

    driver.warn_below_resolution(0.1, get_task("mrpc"), 408)  # one example: 0.25 points
    assert "--max-drop 0.1 is below about one dev example's worth of" in capsys.readouterr().err
    for max_drop, task in ((0.25, "mrpc"), (0.5, "mrpc"), (0.01, "stsb")):
        driver.warn_below_resolution(max_drop, get_task(task), 400)
        assert capsys.readouterr().err == ""


# ------------------------------------------------------------------ item 2: the model's own task by default


def _trained_on(tiny_classifier, tmp_path: Path, task: str) -> Path:
    """A copy of the tiny classifier whose folder records, as `distill` does, that it was trained on ``task``."""
    model = tmp_path / "model"
    shutil.copytree(tiny_classifier, model)
    (model / "metrics.json").write_text(json.dumps({"stage": "finetune", "completed": True, "task": "x",
                                                    "config": {"task": task}}))
    return model


def test_model_task_reads_the_run_record_the_card_and_the_export_source(tmp_path, tiny_classifier):
    assert model_task(tiny_classifier) is None and model_task("someone/hub-model") is None
    model = _trained_on(tiny_classifier, tmp_path, "mrpc")
    assert model_task(model) == ("mrpc", str(model / "metrics.json"))
    exported = tmp_path / "onnx"
    exported.mkdir()
    (exported / "quantization.json").write_text(json.dumps({"precision": "fp32", "source_model": str(model)}))
    assert model_task(exported / "model.onnx")[0] == "mrpc"
    carded = tmp_path / "carded"
    carded.mkdir()
    (carded / "README.md").write_text("---\nmodel-index:\n- name: x\n  results:\n  - dataset:\n      type: "
                                      "nyu-mll/glue\n      config: rte\n---\n# x\n")
    assert model_task(carded)[0] == "rte"


def test_without_calib_a_glue_model_is_calibrated_and_scored_on_its_task(tmp_path, tiny_classifier, glue_tsv):
    model = _trained_on(tiny_classifier, tmp_path, "mrpc")
    cfg = tiny_int8_config(model, tmp_path / "int8", glue_tsv, calib=None)
    assert cfg.calib is None
    record = api.int8(cfg)
    assert record["calibration"]["task"] == "mrpc" and record["dev"]["task"] == "mrpc"
    assert record["config"]["calib"] == "mrpc"  # the resolved config redoes the same folder


def test_without_calib_a_task_spec_model_is_calibrated_on_its_spec(tmp_path, tiny_classifier, glue_tsv, custom_task):
    model = _trained_on(tiny_classifier, tmp_path, str(custom_task))
    record = api.int8(tiny_int8_config(model, tmp_path / "int8", glue_tsv, calib=None, mode="dynamic"))
    assert record["dev"]["task"] == get_task(str(custom_task)).name
    assert record["config"]["calib"] == str(custom_task)


def test_an_unknown_task_without_calib_is_a_one_line_error_before_any_work(tmp_path, tiny_classifier, glue_tsv,
                                                                           capsys):
    out = tmp_path / "int8"
    assert_user_error(main, _int8_argv(tiny_classifier, out, glue_tsv), capsys, f"model {tiny_classifier}",
                      "pass --calib TASK", nothing_written=out)
    moved = _trained_on(tiny_classifier, tmp_path, str(tmp_path / "gone" / "task.yaml"))
    assert_user_error(main, _int8_argv(moved, out, glue_tsv), capsys, "was trained on task", "gone/task.yaml",
                      "per", "pass --calib TASK", nothing_written=out)


def test_an_explicit_calib_wins_over_the_model_task(tmp_path, tiny_classifier, glue_tsv):
    model = _trained_on(tiny_classifier, tmp_path, "mrpc")
    record = api.int8(tiny_int8_config(model, tmp_path / "int8", glue_tsv, mode="dynamic"))  # calib sst2
    assert record["dev"]["task"] == "sst2"


def test_a_config_written_before_the_rename_still_loads():
    from quantize.config import int8_config_from_dict

    cfg = int8_config_from_dict({"model": "m", "output_dir": "o", "allow_mostly_fp32": True})
    assert cfg.allow_fallback is True


def test_an_unknown_fp32_size_does_not_refuse_by_size():
    record = {"quantizable_nodes": 10, "quantized_nodes": 8, "excluded_layers": ["layer.0"], "calibration": None,
              "guard": {"fits": True}, "size_bytes": {"ratio": None}, "latency": {"speedup": 1.1},
              "dev": {"drop_points": 0.4}}
    driver.refuse_fallback(tiny_int8_config("m", "out", "data", max_drop=0.5), record)
    with pytest.raises(Exception, match="an unknown factor smaller"):
        driver.refuse_fallback(tiny_int8_config("m", "out", "data", max_drop=0.5), {**record, "quantized_nodes": 3})
