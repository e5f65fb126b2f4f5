"""The quantize library surface: ``export(model, out)`` and ``int8(cfg)``; the CLI only calls these."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval.core.artifacts import provenance, share_files, write_json
from eval.core.errors import UserError
from eval.core.model_card import ModelCard, describe_model, license_problem, write_model_card
from eval.core.outputs import check_apart
from eval.predictors import QUANTIZATION_FILE
from quantize.config import Int8Config
from quantize.driver import file_digests, quantize_int8
from quantize.onnx_export import EXPORTERS, export_onnx
from quantize.outputs import staged_output


def _onnxruntime(cfg, work):
    from quantize.ort_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(cfg, work)


def _neural_compressor(cfg, work):
    from quantize.inc_backend import NeuralCompressorBackend

    return NeuralCompressorBackend(cfg, work)


# Closed registry: backend name -> its builder (imported lazily: each pulls in a large library).
BACKENDS = {"onnxruntime": _onnxruntime, "neural-compressor": _neural_compressor}


def export(model: str | Path, output_dir: str | Path, exporter: str = "dynamo",
           license: str | None = None) -> dict[str, Any]:
    """ONNX FP32 folder (``model.onnx``, config, tokenizer, ``quantization.json``); returns its record.

    The folder is built beside ``output_dir`` and swapped in whole (see :mod:`quantize.outputs`). Its
    card names ``license`` (a Hub license id; default: the model's, when known).

    Raises:
        UserError: an unknown exporter or license, a model that is not a classifier, a failed export or
            parity check.
    """
    if exporter not in EXPORTERS:
        raise UserError(f"unknown exporter {exporter!r}; choose one of {', '.join(EXPORTERS)}")
    if license_problem(license):
        raise UserError(license_problem(license))
    check_apart(output_dir, {"--model": model}, "--output-dir")
    with staged_output(output_dir, QUANTIZATION_FILE, "quantize export") as staging:
        result = export_onnx(model, staging, exporter=exporter)
        record = {"precision": "fp32", "backend": "onnxruntime", "source_model": str(model),
                  "export": result.record(), **provenance()}
        write_model_card(staging, ModelCard(
            title=Path(output_dir).name, library="onnxruntime", tags=("onnx",), base_model=str(model), license=license,
            summary=f"{describe_model(str(model))} exported to ONNX (FP32) with the {exporter} exporter, checked "
                    f"against PyTorch "
                    f"on real sentence pairs (largest logit difference {result.max_abs_diff:.1e}).",
            settings={"exporter": exporter, "record": "quantization.json"},
            command=f"quantize export --model {model} --output-dir {output_dir} --exporter {exporter}"
                    + (f" --license {license}" if license else "")))
        record["files"] = file_digests(staging)
        write_json(staging / QUANTIZATION_FILE, record)
        share_files(staging)
    return record


def int8(cfg: Int8Config) -> dict[str, Any]:
    """Quantize ``cfg.model`` to INT8 with ``cfg.backend``, score FP32 vs INT8 on dev, write the folder.

    Returns:
        The ``quantization.json`` record written beside the model.
    """
    return quantize_int8(cfg, BACKENDS[cfg.backend])
