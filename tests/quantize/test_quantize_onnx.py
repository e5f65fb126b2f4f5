"""ONNX export parity and INT8 properties on tiny random BERTs (no timing asserts)."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from eval.batching import encode, pad
from eval.data import load_split
from eval.harness import EvalSettings, evaluate_model
from eval.predictors import OnnxPredictor, TorchPredictor, load_predictor, load_tokenizer
from eval.tasks import get_task
from quantize import api, driver
from quantize.measure import snr_db
from quantize.calibration import GlueCalibrationReader, calibration_batches, calibration_sample
from quantize.onnx_export import PARITY_TOLERANCE
from quantize.guard import layer_of
from tests.quantize.conftest import quantized_weight_consumers, tiny_int8_config


def _dev_batch(model_dir, glue_tsv):
    data = load_split(get_task("sst2"), "dev", glue_tsv)
    encoded = encode(load_tokenizer(model_dir), data, 64)
    return pad(encoded, list(range(len(encoded))))


def test_export_matches_pytorch_on_any_batch_and_length(onnx_fp32, tiny_classifier, glue_tsv):
    record = json.loads((onnx_fp32 / "quantization.json").read_text())
    assert record["precision"] == "fp32" and record["export"]["max_abs_logit_diff"] < PARITY_TOLERANCE
    assert {"model.onnx", "config.json", "tokenizer.json"} <= {p.name for p in onnx_fp32.iterdir()}
    batch = _dev_batch(onnx_fp32, glue_tsv)  # 16 rows, padded: another batch and length than export's
    torch_logits = TorchPredictor(str(tiny_classifier), device="cpu").logits(batch)
    onnx_logits = OnnxPredictor(onnx_fp32).logits(batch)
    np.testing.assert_allclose(onnx_logits, torch_logits, atol=1e-4)
    single = {k: v[:1, :5] for k, v in batch.items()}
    assert OnnxPredictor(onnx_fp32).logits(single).shape == (1, 2)


def test_int8_has_quantized_matmuls_and_a_smaller_file(onnx_int8, onnx_fp32):
    consumers = [op for op, _ in quantized_weight_consumers(onnx_int8 / "model.onnx")]
    assert consumers.count("MatMul") >= 2 * 6  # 6 weight MatMuls per layer, 2 layers (+ pooler, head)
    assert "Gather" in consumers  # the word embeddings
    assert (onnx_int8 / "model.onnx").stat().st_size < (onnx_fp32 / "model.onnx").stat().st_size


def test_int8_logits_are_close_to_fp32(onnx_int8, onnx_fp32, glue_tsv):
    batch = _dev_batch(onnx_fp32, glue_tsv)
    fp32 = OnnxPredictor(onnx_fp32).logits(batch)
    int8 = OnnxPredictor(onnx_int8).logits(batch)
    assert snr_db(fp32, int8) > 20  # quantization noise at least 100x below the signal power


def test_output_folder_records_the_run_and_loads_in_the_harness(onnx_int8, glue_tsv):
    record = json.loads((onnx_int8 / "quantization.json").read_text())
    assert record["precision"] == "int8" and record["method"] == "max"
    assert record["calibration"]["task"] == "sst2" and record["calibration"]["size"] == 8
    assert record["excluded_nodes"] == [] and record["guard"]["fits"]
    assert set(record["dev"]) >= {"fp32", "int8", "drop_points"} and record["size_bytes"]["ratio"] > 1
    assert record["versions"]["onnxruntime"] and "features" in record["cpu"]
    predictor = load_predictor(onnx_int8)
    assert predictor.info.precision == "int8"
    results = evaluate_model(onnx_int8, [get_task("sst2")], EvalSettings(data_dir=str(glue_tsv)), progress=False)
    assert results["results"]["sst2"]["num_examples"] == 16


def test_dynamic_baseline_needs_no_calibration(tmp_path, onnx_fp32, glue_tsv):
    record = api.int8(tiny_int8_config(onnx_fp32, tmp_path / "dyn", glue_tsv, mode="dynamic"))
    assert record["calibration"] is None and record["mode"] == "dynamic"
    ops = {n.op_type for n in onnx.load(str(tmp_path / "dyn" / "model.onnx")).graph.node}
    assert "DynamicQuantizeLinear" in ops or "DynamicQuantizeMatMul" in ops


def test_calibration_reader_yields_the_requested_count(tokenizer, glue_tsv):
    data = calibration_sample(get_task("mrpc"), "train", 5, glue_tsv, seed=1)
    reader = GlueCalibrationReader(calibration_batches(tokenizer, data, 64), {"input_ids", "attention_mask"})
    feeds = list(iter(reader.get_next, None))
    assert len(reader) == len(feeds) == 5
    assert all(set(f) == {"input_ids", "attention_mask"} and f["input_ids"].shape[0] == 1 for f in feeds)
    assert all(f["attention_mask"].all() for f in feeds)  # batch size 1: no padding in the ranges
    reader.rewind()
    assert reader.get_next() is not None


def _points_per_int8_weight(predictor, tokenizer, cfg):
    """A stand-in metric that loses one point per quantized weight: only FP32 fallback can fit."""
    return 1.0 - 0.01 * len(quantized_weight_consumers(Path(predictor.info.path)))  # FP32 1.0, INT8 ~0.85


def test_guard_keeps_layers_fp32_when_forced(tmp_path, tiny_classifier, glue_tsv, monkeypatch):
    monkeypatch.setattr(driver, "score", _points_per_int8_weight)
    record = api.int8(tiny_int8_config(tiny_classifier, tmp_path / "guarded", glue_tsv, max_drop=8.0,
                                       guard_granularity="layer"))
    assert record["guard"]["fits"] and record["excluded_layers"]
    assert record["dev"]["drop_points"] <= 8.0
    assert set(record["guard"]["sensitivity"]) >= {"layer.0", "layer.1"}
    still_int8 = {name for _, name in quantized_weight_consumers(tmp_path / "guarded" / "model.onnx")}
    assert not still_int8 & set(record["excluded_nodes"])
    assert {layer_of(n) for n in record["excluded_nodes"]} == set(record["excluded_layers"])


def test_guard_op_granularity_keeps_single_nodes(tmp_path, tiny_classifier, glue_tsv, monkeypatch):
    monkeypatch.setattr(driver, "score", _points_per_int8_weight)
    record = api.int8(tiny_int8_config(tiny_classifier, tmp_path / "op", glue_tsv, max_drop=12.0))
    assert record["guard"]["fits"] and record["excluded_layers"] == record["excluded_nodes"]
    assert 0 < len(record["excluded_nodes"]) < len(record["guard"]["sensitivity"])


def test_calibration_size_that_is_a_multiple_of_the_flush_interval(tmp_path, onnx_fp32, glue_tsv):
    record = api.int8(tiny_int8_config(onnx_fp32, tmp_path / "sixteen", glue_tsv, calib_size=16))
    assert record["calibration"]["size"] == 16
