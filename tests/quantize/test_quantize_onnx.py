"""ONNX export parity and INT8 properties on tiny random BERTs (no timing asserts)."""

import json
import warnings
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


def test_glue_eval_opens_an_optimum_style_onnx_folder(tmp_path, onnx_int8, glue_tsv, capsys):
    """Optimum's quantizer writes model_quantized.onnx (and ort_config.json) beside config and tokenizer."""
    import shutil

    from eval import cli as glue
    from tests.conftest import assert_user_error

    folder = tmp_path / "optimum"
    shutil.copytree(onnx_int8, folder, ignore=shutil.ignore_patterns("quantization.json", "quantize_config.yaml"))
    (folder / "model.onnx").rename(folder / "model_quantized.onnx")
    assert load_predictor(folder).info.precision == "int8"
    out = tmp_path / "r.json"
    assert glue.main(["eval", "--model", str(folder), "--task", "sst2", "--data-dir", str(glue_tsv),
                      "--output", str(out)]) == 0
    assert json.loads(out.read_text())["results"]["sst2"]["num_examples"] == 16
    shutil.copy(folder / "model_quantized.onnx", folder / "model.onnx")
    assert_user_error(glue.main, ["eval", "--model", str(folder), "--task", "sst2", "--data-dir", str(glue_tsv),
                                  "--output", str(tmp_path / "r2.json")], capsys,
                      "holds both model.onnx and model_quantized.onnx", f"{folder / 'model_quantized.onnx'}")


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


def _points_per_int8_weight(predictor, tokenizer, cfg, dev=None):
    """A stand-in metric that loses one point per quantized weight: only FP32 fallback can fit."""
    return 1.0 - 0.01 * len(quantized_weight_consumers(Path(predictor.info.path)))  # FP32 1.0, INT8 ~0.85


def test_guard_keeps_layers_fp32_when_forced(tmp_path, tiny_classifier, glue_tsv, monkeypatch):
    monkeypatch.setattr(driver, "score", _points_per_int8_weight)
    record = api.int8(tiny_int8_config(tiny_classifier, tmp_path / "guarded", glue_tsv, max_drop=8.0,
                                       guard_granularity="layer", allow_fallback=True))  # a whole layer of 2: most
    assert record["guard"]["fits"] and record["excluded_layers"]
    assert record["dev"]["drop_points"] <= 8.0
    assert set(record["guard"]["sensitivity"]) >= {"layer.0", "layer.1"}
    still_int8 = {name for _, name in quantized_weight_consumers(tmp_path / "guarded" / "model.onnx")}
    assert not still_int8 & set(record["excluded_nodes"])
    assert {layer_of(n) for n in record["excluded_nodes"]} == set(record["excluded_layers"])


def test_guard_op_granularity_keeps_single_nodes(tmp_path, tiny_classifier, glue_tsv, monkeypatch):
    monkeypatch.setattr(driver, "score", _points_per_int8_weight)
    # the tiny fixture is mostly embeddings: keeping any FP32 leaves it under 1.5x smaller
    record = api.int8(tiny_int8_config(tiny_classifier, tmp_path / "op", glue_tsv, max_drop=12.0, allow_fallback=True))
    assert record["guard"]["fits"] and record["excluded_layers"] == record["excluded_nodes"]
    assert 0 < len(record["excluded_nodes"]) < len(record["guard"]["sensitivity"])


def test_calibration_size_that_is_a_multiple_of_the_flush_interval(tmp_path, onnx_fp32, glue_tsv):
    record = api.int8(tiny_int8_config(onnx_fp32, tmp_path / "sixteen", glue_tsv, calib_size=16))
    assert record["calibration"]["size"] == 16


@pytest.mark.parametrize("method", ["percentile", "entropy"])
def test_histogram_calibration_works_on_examples_of_different_lengths(tmp_path, onnx_fp32, glue_tsv, method):
    record = api.int8(tiny_int8_config(onnx_fp32, tmp_path / method, glue_tsv, method=method))
    assert record["method"] == method and record["quantized_nodes"] == record["quantizable_nodes"]
    assert record["dev"]["int8"] > 0


def test_reduce_range_is_recorded_and_full_range_warns_once_without_vnni(tmp_path, onnx_fp32, glue_tsv, monkeypatch):
    import eval.formats.onnx as predictors  # the ONNX format module holds the check and its once-registry

    record = api.int8(tiny_int8_config(onnx_fp32, tmp_path / "full", glue_tsv, reduce_range="off"))
    assert record["onnxruntime"]["reduce_range"] == {"setting": "off", "applied": False, "reason": "--reduce-range off"}
    monkeypatch.setattr(predictors, "has_vnni", lambda: False)
    monkeypatch.setattr(predictors, "_warned_full_range", set())
    with pytest.warns(RuntimeWarning, match="full-range INT8 weights, and this CPU has no VNNI.*--reduce-range on"):
        OnnxPredictor(tmp_path / "full")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        OnnxPredictor(tmp_path / "full")  # once per process


def test_reduced_range_model_does_not_warn(onnx_fp32, onnx_int8, monkeypatch):
    import eval.formats.onnx as predictors  # the ONNX format module holds the check and its once-registry

    record = json.loads((onnx_int8 / "quantization.json").read_text())
    monkeypatch.setattr(predictors, "has_vnni", lambda: False)
    monkeypatch.setattr(predictors, "_warned_full_range", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        OnnxPredictor(onnx_fp32)
        if record["onnxruntime"]["reduce_range"]["applied"]:
            OnnxPredictor(onnx_int8)


def test_legacy_exporter_is_an_explicit_choice_with_parity(tmp_path, tiny_classifier, glue_tsv):
    record = api.export(tiny_classifier, tmp_path / "legacy", exporter="legacy")
    assert record["export"]["exporter"] == "legacy" and record["export"]["opset"] == 17
    batch = _dev_batch(tmp_path / "legacy", glue_tsv)
    np.testing.assert_allclose(OnnxPredictor(tmp_path / "legacy").logits(batch),
                               TorchPredictor(str(tiny_classifier), device="cpu").logits(batch), atol=1e-4)


def test_dynamo_export_names_nodes_by_module(onnx_fp32):
    record = json.loads((onnx_fp32 / "quantization.json").read_text())
    assert record["export"]["exporter"] == "dynamo"
    names = {n.name for n in onnx.load(str(onnx_fp32 / "model.onnx")).graph.node}
    assert "bert.encoder.layer.0.attention.self.query/MatMul" in names


def test_smooth_quant_keeps_the_function_and_quantizes_every_matmul(tmp_path, onnx_fp32, glue_tsv):
    from quantize.calibration import calibration_set
    from quantize.ort_backend import preprocess
    from quantize.smooth import smooth_onnx

    cfg = tiny_int8_config(onnx_fp32, tmp_path / "sq", glue_tsv, smooth_quant=0.5)
    batches, _ = calibration_set(cfg, load_tokenizer(onnx_fp32))
    pre = preprocess(onnx_fp32 / "model.onnx", tmp_path / "pre.onnx")
    smoothed, info = smooth_onnx(pre, batches, 0.5, tmp_path / "smoothed.onnx")
    assert info["matmuls_smoothed"] == 2 * 6 and info["inputs_smoothed"] == 2 * 4  # Q, K, V share an input
    import shutil

    shutil.copy(onnx_fp32 / "config.json", tmp_path / "config.json")
    batch = _dev_batch(onnx_fp32, glue_tsv)
    np.testing.assert_allclose(OnnxPredictor(smoothed).logits(batch), OnnxPredictor(pre).logits(batch), atol=1e-4)
    record = api.int8(cfg)
    assert record["onnxruntime"]["smooth_quant"]["alpha"] == 0.5
    assert record["quantized_nodes"] == record["quantizable_nodes"] and record["excluded_nodes"] == []


@pytest.mark.parametrize("drop, words", [(0.34, "0.34 points lost"), (-0.34, "0.34 points gained")])
def test_summary_line_says_lost_or_gained(drop, words):
    from quantize.cli import summary

    record = {"dev": {"task": "sst2", "metric": "accuracy", "fp32": 0.8, "int8": 0.8 - drop / 100, "drop_points": drop},
              "size_bytes": {"ratio": 3.9}, "latency": {"speedup": 1.5}}
    assert f"({words})" in summary(record, "out")


def test_int8_and_export_folders_have_model_cards(onnx_int8, onnx_fp32):
    int8_folder = onnx_int8
    from huggingface_hub import ModelCard

    card = ModelCard.load(int8_folder / "README.md")
    [result] = card.data.eval_results
    record = json.loads((int8_folder / "quantization.json").read_text())
    assert result.metric_value == round(record["dev"]["int8"], 6) and "int8" in card.data.tags
    assert f"quantize int8 --recipe {int8_folder / 'quantize_config.yaml'}" in card.text
    assert (int8_folder / "quantize_config.yaml").is_file() and "README.md" in record["files"]
    assert "exported to ONNX" in ModelCard.load(onnx_fp32 / "README.md").text
    from tests.conftest import assert_hub_card  # the source has no card: no Hub base model to name

    assert_hub_card(int8_folder, None, None, "other", ["nyu-mll/glue"], not_named=(record["source_model"],))
    assert_hub_card(onnx_fp32, None, None, "other", None)


def _ops(path: Path) -> list[str]:
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def test_static_graph_runs_weight_matmuls_as_fused_int8_kernels_with_their_bias(onnx_int8, onnx_fp32):
    """Issue 27: every MatMul with a constant weight INT8, its bias inside the kernel; attention FP32."""
    from quantize.ort_backend import activation_matmuls

    record = json.loads((onnx_int8 / "quantization.json").read_text())
    graph = onnx.load(str(onnx_int8 / "model.onnx")).graph
    fused = [n for n in graph.node if n.op_type == "MatMulIntegerToFloat"]
    weights = [n for n in onnx.load(str(onnx_fp32 / "model.onnx")).graph.node if n.op_type == "MatMul"]
    attention = activation_matmuls(onnx_fp32 / "model.onnx")
    assert len(fused) == record["onnxruntime"]["fused_matmuls"] == len(weights) - len(attention) == 12
    assert all(len(n.input) == 7 for n in fused)  # A, B, two scales, two zero points, bias
    assert _ops(onnx_int8 / "model.onnx").count("MatMul") == len(attention) == 4  # 2 per layer stay FP32
    assert record["quantized_nodes"] == record["quantizable_nodes"]


def test_fusing_the_int8_matmuls_keeps_the_logits(tmp_path, onnx_fp32, glue_tsv, monkeypatch):
    import shutil

    from quantize import ort_backend
    from quantize.calibration import calibration_set
    from quantize.ort_fusion import fuse_int8_matmuls

    cfg = tiny_int8_config(onnx_fp32, tmp_path / "unused", glue_tsv)
    pre = ort_backend.preprocess(onnx_fp32 / "model.onnx", tmp_path / "pre.onnx")
    batches, _ = calibration_set(cfg, load_tokenizer(onnx_fp32))
    reader = GlueCalibrationReader(batches, ort_backend.input_names(pre))
    monkeypatch.setattr(ort_backend, "fuse_int8_matmuls", lambda path: 0)
    qdq, fused_count = ort_backend.quantize_onnx(pre, tmp_path / "qdq.onnx", cfg, False, reader)
    assert fused_count == 0 and "MatMulIntegerToFloat" not in _ops(qdq)
    fused = tmp_path / "fused.onnx"
    shutil.copy(qdq, fused)
    assert fuse_int8_matmuls(fused) == 12
    assert _ops(fused).count("Add") < _ops(qdq).count("Add") and _ops(fused).count("DequantizeLinear") < _ops(qdq).count(
        "DequantizeLinear")
    for path in (qdq, fused):
        shutil.copy(onnx_fp32 / "config.json", path.parent / "config.json")
    batch = _dev_batch(onnx_fp32, glue_tsv)
    np.testing.assert_allclose(OnnxPredictor(fused).logits(batch), OnnxPredictor(qdq).logits(batch), atol=1e-5)


def test_attention_products_are_quantized_only_when_asked(tmp_path, onnx_fp32, onnx_int8, glue_tsv):
    record = api.int8(tiny_int8_config(onnx_fp32, tmp_path / "int8", glue_tsv, attention_matmuls=True))
    default = json.loads((onnx_int8 / "quantization.json").read_text())
    assert record["quantizable_nodes"] == default["quantizable_nodes"] + 4
    graph = onnx.load(str(tmp_path / "int8" / "model.onnx")).graph
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    attention = [n for n in graph.node if n.op_type == "MatMul"]
    assert record["onnxruntime"]["attention_matmuls"] and len(attention) == 4
    assert all(set(n.input) <= dequantized for n in attention)  # both operands 8-bit


def test_fusion_leaves_what_the_kernel_cannot_run(tmp_path):
    """A bias broadcast from one value, a per-channel activation scale, s8 activations x u8 weights: left alone."""
    from onnx import TensorProto, helper, numpy_helper

    from quantize.ort_fusion import fuse_int8_matmuls

    def graph(bias_shape=(4,), a_scale=(1,), a_type=TensorProto.UINT8, w_type=TensorProto.INT8):
        w_np = np.ones((4, 4), dtype=np.int8 if w_type == TensorProto.INT8 else np.uint8)
        inits = [numpy_helper.from_array(w_np, "w"), numpy_helper.from_array(np.full(4, 0.1, np.float32), "ws"),
                 numpy_helper.from_array(np.zeros(4, w_np.dtype), "wz"),
                 numpy_helper.from_array(np.full(a_scale, 0.1, np.float32), "as"),
                 numpy_helper.from_array(np.zeros(a_scale, np.uint8 if a_type == TensorProto.UINT8 else np.int8), "az"),
                 numpy_helper.from_array(np.ones(bias_shape, np.float32), "b")]
        axis = {"axis": 1} if a_scale != (1,) else {}
        nodes = [helper.make_node("QuantizeLinear", ["x", "as", "az"], ["xq"], **axis),
                 helper.make_node("DequantizeLinear", ["xq", "as", "az"], ["xd"], **axis),
                 helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=1),
                 helper.make_node("MatMul", ["xd", "wd"], ["y"], name="mm"),
                 helper.make_node("Add", ["y", "b"], ["z"])]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 4])], inits)
        path = tmp_path / "g.onnx"
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)]), str(path))
        return path

    assert fuse_int8_matmuls(graph()) == 1 and "Add" not in _ops(tmp_path / "g.onnx")
    assert fuse_int8_matmuls(graph(bias_shape=(1,))) == 1 and "Add" in _ops(tmp_path / "g.onnx")  # fused, bias apart
    assert fuse_int8_matmuls(graph(a_scale=(4,))) == 0
    assert fuse_int8_matmuls(graph(a_type=TensorProto.INT8, w_type=TensorProto.UINT8)) == 0


def test_the_guard_reads_the_dev_set_once(tmp_path, onnx_fp32, glue_tsv, monkeypatch):
    """Issue 29: every candidate the guard scores, and its SNR probe, share one read of the dev split."""
    from quantize import measure

    reads = []
    real = measure.load_split

    def counting(task, split, data_dir=None):
        reads.append(split)
        return real(task, split, data_dir)

    monkeypatch.setattr(measure, "load_split", counting)
    monkeypatch.setattr(driver, "score", lambda *args, **kwargs: _points_per_int8_weight(*args, **kwargs)
                        if measure.score(*args, **kwargs) is not None else None)
    record = api.int8(tiny_int8_config(onnx_fp32, tmp_path / "guarded", glue_tsv, max_drop=8.0,
                                       guard_granularity="layer", allow_fallback=True))
    assert len(record["guard"]["steps"]) > 1  # several candidates were scored
    assert reads == ["dev"]
