"""INT8 ONNX models with ``onnxruntime.quantization``: static (calibrated) or dynamic."""

from __future__ import annotations

from pathlib import Path

from eval.artifacts import cpu_features
from eval.errors import UserError
from quantize.config import Int8Config
from quantize.onnx_export import first_line

# Closed registries: config names -> onnxruntime enums (imported lazily, see _ort()).
METHODS = {"max": "MinMax", "percentile": "Percentile", "entropy": "Entropy"}
FORMATS = {"qdq": "QDQ", "qoperator": "QOperator"}
TYPES = {"uint8": "QUInt8", "int8": "QInt8"}

# Calibration keeps every intermediate tensor of every batch in memory until it computes the
# ranges; flushing into running min/max every N batches bounds that (min-max only).
_FLUSH_EVERY = 16


def _ort():
    from onnxruntime import quantization

    return quantization


def _flush_every(count: int) -> int | None:
    """A flush interval that does not divide ``count``.

    ONNX Runtime computes the last range after the loop; when the final flush emptied its buffer
    it raises "No data is collected" (e.g. 32 examples flushed every 16).
    """
    return next((k for k in range(_FLUSH_EVERY, 1, -1) if count % k), None)


def check_onnx(path: Path) -> None:
    """Fail with one line when ``path`` is not a readable ONNX model."""
    import onnx

    if not path.is_file():
        raise UserError(f"ONNX model {path} does not exist; export one with `quantize export`")
    try:
        onnx.checker.check_model(str(path))
    except Exception as err:
        raise UserError(f"ONNX model {path} is corrupt or unreadable ({first_line(err)}); "
                        f"re-export it with `quantize export`") from None


def preprocess(fp32: Path, out: Path) -> Path:
    """Constant folding, basic graph fusions and shape inference before quantization.

    The quantizer only calibrates tensors whose type it knows, so shape inference is required.
    ONNX Runtime's symbolic shape inference gives up on the attention-mask ops of recent
    ``transformers`` exports; ONNX's own inference types every tensor of this graph, so it is used.
    The transformer-specific fusions (Attention, EmbedLayerNormalization) are not applied: the
    static quantizer leaves those fused ops in FP32, which is slower and larger.
    """
    _ort().quant_pre_process(str(fp32), str(out), skip_symbolic_shape=True)
    return out


def quantizable_nodes(path: Path, op_types: tuple[str, ...]) -> list[str]:
    """Names of the nodes the quantizer would touch, in graph order."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    tables = {t.name for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    # A Gather is an embedding lookup only when it reads a float table; the others index shapes.
    return [node.name for node in graph.node if node.op_type in op_types
            and (node.op_type != "Gather" or node.input[0] in tables)]


def reduce_range() -> bool:
    """7-bit weights on CPUs without VNNI, where the u8*s8 pair-sum can saturate int16."""
    return not {"avx512_vnni", "avx_vnni", "amx_int8"} & set(cpu_features()["features"])


def quantize_onnx(fp32: Path, out: Path, cfg: Int8Config, reader=None, exclude: tuple[str, ...] = (),
                  calibration_cache: Path | None = None) -> Path:
    """Write an INT8 copy of a (preprocessed) FP32 graph.

    Args:
        fp32: the preprocessed FP32 model (see :func:`preprocess`).
        out: the INT8 file to write.
        cfg: method, mode, format, types, per-channel and op types.
        reader: a ``CalibrationDataReader`` (static mode; unused when the cache file exists).
        exclude: node names kept in FP32.
        calibration_cache: JSON file of calibrated ranges; written on the first call and reused
            after, so the accuracy guard re-quantizes without re-calibrating.
    """
    q = _ort()
    common = dict(per_channel=cfg.per_channel, reduce_range=reduce_range(),
                  weight_type=getattr(q.QuantType, TYPES[cfg.weight_type]),
                  nodes_to_exclude=list(exclude), op_types_to_quantize=list(cfg.op_types))
    if cfg.mode == "dynamic":
        q.quantize_dynamic(str(fp32), str(out), **common)
        return out
    flush = _flush_every(len(reader)) if reader is not None and cfg.method == "max" else None
    extra = {"CalibMaxIntermediateOutputs": flush} if flush else {}
    if cfg.method == "percentile":
        extra["CalibPercentile"] = cfg.percentile
    q.quantize_static(
        str(fp32), str(out), reader,
        quant_format=getattr(q.QuantFormat, FORMATS[cfg.quant_format]),
        activation_type=getattr(q.QuantType, TYPES[cfg.activation_type]),
        calibrate_method=getattr(q.CalibrationMethod, METHODS[cfg.method]),
        extra_options=extra, calibration_cache_path=calibration_cache, **common)
    return out
