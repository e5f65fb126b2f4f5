"""The quantize library surface: ``export(model, out)`` and ``int8(cfg)``; the CLI only calls these."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from eval.artifacts import provenance, write_json
from eval.errors import UserError
from eval.predictors import ONNX_FILE, QUANTIZATION_FILE, OnnxPredictor, load_tokenizer, size_on_disk
from eval.tasks import get_task
from quantize import onnx_int8
from quantize.calibration import GlueCalibrationReader, calibration_set
from quantize.config import Int8Config, config_dict
from quantize.guard import guard_groups, run_guard
from quantize.measure import latency_batch, latency_record, measure_interleaved, score, snr_probe
from quantize.onnx_export import OPSET, export_onnx


def export(model: str | Path, output_dir: str | Path) -> dict[str, Any]:
    """ONNX FP32 folder (``model.onnx``, config, tokenizer, ``quantization.json``); returns its record."""
    result = export_onnx(model, output_dir)
    record = {"precision": "fp32", "backend": "onnxruntime", "source_model": str(model),
              "export": {"opset": OPSET, "max_abs_logit_diff": result.max_abs_diff,
                         "parity_examples": result.parity_examples},
              **provenance()}
    write_json(Path(output_dir) / QUANTIZATION_FILE, record)
    return record


def int8(cfg: Int8Config) -> dict[str, Any]:
    """Quantize ``cfg.model`` to INT8, score FP32 vs INT8 on dev, write the output folder.

    Returns:
        The ``quantization.json`` record written beside the model.
    """
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".work-") as tmp:
        work = Path(tmp)
        if cfg.backend == "neural-compressor":
            from quantize.torch_int8 import int8_torch

            record = int8_torch(cfg, work, out)
        else:
            record = _int8_onnx(cfg, work, out)
    write_json(out / QUANTIZATION_FILE, record)
    return record


def _int8_onnx(cfg: Int8Config, work: Path, out: Path) -> dict[str, Any]:
    fp32, export_record = _fp32_onnx(cfg.model, work / "fp32")
    onnx_int8.check_onnx(fp32)
    pre = onnx_int8.preprocess(fp32, work / "fp32" / "preprocessed.onnx")
    reader, calib = None, None
    if cfg.mode == "static":
        batches, calib = calibration_set(cfg, load_tokenizer(fp32.parent))
        reader = GlueCalibrationReader(batches, _input_names(pre))
    names = onnx_int8.quantizable_nodes(pre, cfg.op_types)
    attempts = iter(range(10_000))

    def build(exclude: tuple[str, ...]) -> Path:
        # candidates live beside the FP32 config so OnnxPredictor can load them
        path = work / "fp32" / f"int8-{next(attempts)}.onnx"
        return onnx_int8.quantize_onnx(pre, path, cfg, reader, exclude, work / "calibration.json")

    task = get_task(cfg.task_for_eval)
    fp32_metric = _score_onnx(fp32, cfg)
    probe = None if cfg.max_drop is None else snr_probe(
        OnnxPredictor(fp32, threads=cfg.threads), load_tokenizer(fp32.parent), cfg,
        load=lambda path: OnnxPredictor(path, threads=cfg.threads))
    groups = guard_groups(names, cfg.exclude, cfg.granularity)
    guard = run_guard(groups, build, lambda path: _score_onnx(path, cfg), fp32_metric, cfg.max_drop,
                      base=tuple(cfg.exclude), probe=probe)
    shutil.copy(guard.model, out / ONNX_FILE)
    _copy_config_and_tokenizer(fp32.parent, out)
    fp32_size, int8_size = size_on_disk(fp32), size_on_disk(out / ONNX_FILE)
    latency = measure_interleaved({"fp32": OnnxPredictor(fp32, threads=cfg.threads).logits,
                                   "int8": OnnxPredictor(out / ONNX_FILE, threads=cfg.threads).logits},
                                  latency_batch(out))
    return {
        "precision": "int8",
        "backend": "onnxruntime",
        "method": cfg.method if cfg.mode == "static" else None,
        "mode": cfg.mode,
        "source_model": cfg.model,
        "calibration": calib,
        "onnxruntime": {"format": cfg.quant_format, "activation_type": cfg.activation_type,
                        "weight_type": cfg.weight_type, "per_channel": cfg.per_channel,
                        "reduce_range": onnx_int8.reduce_range(), "op_types": list(cfg.op_types),
                        "preprocess": "quant_pre_process (ONNX shape inference, basic fusions)"},
        "quantized_nodes": len(names) - len(guard.excluded_nodes),
        **guard.record(cfg.max_drop, task),
        "size_bytes": {"fp32": fp32_size, "int8": int8_size, "ratio": fp32_size / int8_size},
        "latency": latency_record(latency, cfg.threads),
        "export": export_record,
        "config": config_dict(cfg),
        **provenance(),
    }


def _fp32_onnx(model: str, folder: Path) -> tuple[Path, dict | None]:
    """The FP32 ONNX file to quantize: the model's own ``model.onnx``, or a fresh export."""
    path = Path(model).expanduser()
    if path.suffix == ".onnx" or (path / ONNX_FILE).is_file():
        source = path if path.suffix == ".onnx" else path / ONNX_FILE
        onnx_int8.check_onnx(source)
        folder.mkdir(parents=True)
        shutil.copy(source, folder / ONNX_FILE)
        _copy_config_and_tokenizer(source.parent, folder)
        return folder / ONNX_FILE, None
    result = export_onnx(model, folder)
    return result.path, {"max_abs_logit_diff": result.max_abs_diff, "parity_examples": result.parity_examples}


def _score_onnx(path: Path, cfg: Int8Config) -> float:
    return score(OnnxPredictor(path, threads=cfg.threads), load_tokenizer(path.parent), cfg)


def _copy_config_and_tokenizer(src: Path, dst: Path) -> None:
    """config.json and the tokenizer files: everything ``glue eval`` needs beside the weights."""
    if not (src / "config.json").is_file():
        raise UserError(f"{src} has no config.json beside the model; export it with `quantize export`")
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "config.json", dst / "config.json")
    load_tokenizer(src).save_pretrained(dst)


def _input_names(path: Path) -> set[str]:
    import onnx

    return {i.name for i in onnx.load(str(path), load_external_data=False).graph.input}


