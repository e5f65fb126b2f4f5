"""The ONNX Runtime backend: INT8 ONNX graphs with ``onnxruntime.quantization`` (static or dynamic)."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

from eval.core.errors import UserError, first_line
from eval.predictors import ONNX_FILE, OnnxPredictor, has_vnni, load_tokenizer, size_on_disk
from quantize.calibration import GlueCalibrationReader, calibration_set
from quantize.config import OnnxRuntimeConfig
from quantize.onnx_export import export_onnx
from quantize.ort_fusion import fuse_int8_matmuls
from quantize.sources import require_tokenizer

# Closed registries: config names -> onnxruntime enums (imported lazily, see _ort()).
METHODS = {"max": "MinMax", "percentile": "Percentile", "entropy": "Entropy"}
FORMATS = {"qdq": "QDQ", "qoperator": "QOperator"}
TYPES = {"uint8": "QUInt8", "int8": "QInt8"}
# Ops that run on 8-bit data once ONNX Runtime has fused the graph (QOperator and dynamic formats).
INTEGER_OPS = {"QLinearMatMul", "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QGemm",
               "QAttention", "QLinearAdd", "QLinearMul", "QEmbedLayerNormalization", "QLinearSoftmax"}

# Calibration keeps every intermediate tensor of every batch in memory until it computes the
# ranges; flushing into running min/max every N batches bounds that (min-max only).
_FLUSH_EVERY = 16


def _ort():
    from onnxruntime import quantization

    return quantization


class OnnxRuntimeBackend:
    """Exports (or copies) the FP32 graph, preprocesses it, calibrates once, builds candidates."""

    name = "onnxruntime"

    def __init__(self, cfg: OnnxRuntimeConfig, work: Path):
        self.cfg, self.work = cfg, work
        fp32, self.export = fp32_onnx(cfg.model, work / "fp32", cfg.exporter, cfg.max_seq_length)
        self.reference = OnnxPredictor(fp32, threads=cfg.threads)
        self.tokenizer = load_tokenizer(fp32.parent)
        self.fp32_size = size_on_disk(fp32)
        self.source = preprocess(fp32, work / "fp32" / "preprocessed.onnx")
        self.reader, self.calibration, self.smoothing = None, None, None
        if cfg.mode == "static":
            batches, self.calibration = calibration_set(cfg, self.tokenizer)
            if cfg.smooth_quant is not None:
                from quantize.smooth import smooth_onnx

                self.source, self.smoothing = smooth_onnx(self.source, batches, cfg.smooth_quant,
                                                          work / "fp32" / "smoothed.onnx")
            self.reader = GlueCalibrationReader(batches, input_names(self.source))
        self.reduce_range, self.reduce_range_reason = resolve_reduce_range(cfg.reduce_range)
        self._names = quantizable_nodes(self.source, cfg.op_types, cfg.attention_matmuls)
        self._skipped = kept_fp32(self.source, cfg)
        self._fused = 0
        self._attempts = itertools.count()

    def quantizable(self) -> list[str]:
        return self._names

    def build(self, exclude: tuple[str, ...]) -> Path:
        # candidates live beside the FP32 config so OnnxPredictor can load them
        path = self.work / "fp32" / f"int8-{next(self._attempts)}.onnx"
        path, self._fused = quantize_onnx(self.source, path, self.cfg, self.reduce_range, self.reader, exclude,
                                          self.work / "calibration.json", skipped=self._skipped)
        return path

    def predictor(self, candidate: Path) -> OnnxPredictor:
        return OnnxPredictor(candidate, threads=self.cfg.threads)

    def quantized(self, candidate: Path) -> int:
        integer = set(integer_nodes(candidate))  # QOperator and dynamic graphs rename nodes NAME_quant
        return sum(1 for name in self._names if name in integer or f"{name}_quant" in integer)

    def save(self, candidate: Path, folder: Path) -> None:
        shutil.copy(candidate, folder / ONNX_FILE)
        copy_config_and_tokenizer(candidate.parent, folder)

    def record(self) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "calibration": self.calibration,
            "onnxruntime": {"format": cfg.quant_format, "activation_type": cfg.activation_type,
                            "weight_type": cfg.weight_type, "per_channel": cfg.per_channel,
                            "op_types": list(cfg.op_types), "matmul_output": cfg.matmul_output,
                            "attention_matmuls": cfg.attention_matmuls,
                            "fused_matmuls": self._fused,
                            "reduce_range": {"setting": cfg.reduce_range, "applied": self.reduce_range,
                                             "reason": self.reduce_range_reason},
                            "smooth_quant": self.smoothing,
                            "preprocess": "quant_pre_process (ONNX shape inference, basic fusions)"},
            "export": self.export,
        }


def fp32_onnx(model: str, folder: Path, exporter: str, max_seq_length: int) -> tuple[Path, dict | None]:
    """The FP32 ONNX file to quantize: the model's own ``model.onnx``, or a fresh export."""
    path = Path(model).expanduser()
    if path.suffix == ".onnx" or (path / ONNX_FILE).is_file():
        source = path if path.suffix == ".onnx" else path / ONNX_FILE
        check_onnx(source)
        folder.mkdir(parents=True)
        shutil.copy(source, folder / ONNX_FILE)
        copy_config_and_tokenizer(source.parent, folder)
        return folder / ONNX_FILE, None
    result = export_onnx(model, folder, max_seq_length=min(max_seq_length, 128), exporter=exporter)
    return result.path, result.record()


def copy_config_and_tokenizer(src: Path, dst: Path) -> None:
    """config.json and the tokenizer files: everything ``glue eval`` needs beside the weights."""
    if not (src / "config.json").is_file():
        raise UserError(f"{src} has no config.json beside the model; export it with `quantize export`")
    require_tokenizer(src)
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "config.json", dst / "config.json")
    load_tokenizer(src).save_pretrained(dst)


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
    static quantizer leaves those fused ops in FP32 (measured in docs/quantization.md).
    """
    _ort().quant_pre_process(str(fp32), str(out), skip_symbolic_shape=True)
    return out


def input_names(path: Path) -> set[str]:
    import onnx

    return {i.name for i in onnx.load(str(path), load_external_data=False).graph.input}


def quantizable_nodes(path: Path, op_types: tuple[str, ...], attention_matmuls: bool = False) -> list[str]:
    """Names of the nodes the quantizer would touch, in graph order.

    A Gather counts only when it reads a float table (an embedding lookup; the others index
    shapes); a MatMul only when its second operand is a constant weight, unless
    ``attention_matmuls`` also asks for the activation x activation products of attention.
    """
    graph, tables, is_weight = _graph_and_weights(path)
    return [node.name for node in graph.node if node.op_type in op_types
            and (node.op_type != "Gather" or node.input[0] in tables)
            and (node.op_type != "MatMul" or attention_matmuls or is_weight(node.input[1]))]


def activation_matmuls(path: Path) -> list[str]:
    """MatMuls whose operands are both computed (attention scores and context), in graph order."""
    graph, _, is_weight = _graph_and_weights(path)
    return [node.name for node in graph.node if node.op_type == "MatMul" and node.name  # "" would exclude every unnamed node
            and not is_weight(node.input[1])]


def kept_fp32(path: Path, cfg: OnnxRuntimeConfig) -> tuple[str, ...]:
    """The MatMuls left FP32 by default: attention's activation products, unless ``attention_matmuls``."""
    if cfg.attention_matmuls or "MatMul" not in cfg.op_types:
        return ()
    return tuple(activation_matmuls(path))


def _graph_and_weights(path: Path):
    """The graph, its float tables and whether a tensor is a weight (see :func:`_constant`)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    tables = {t.name for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    producer = {out: node for node in graph.node for out in node.output}
    return graph, tables, lambda name: _constant(name, tables, producer)


def _constant(name: str, tables: set[str], producer: dict) -> bool:
    """Whether a tensor is a weight: an initializer, possibly through a Transpose, Cast or Identity."""
    for _ in range(4):
        if name in tables:
            return True
        node = producer.get(name)
        if node is None or node.op_type not in ("Transpose", "Cast", "Identity"):
            return False
        name = node.input[0]
    return False


def integer_nodes(path: Path) -> list[str]:
    """Nodes of an INT8 graph that compute on 8-bit data: integer ops, or ops fed by a DequantizeLinear."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    return [n.name for n in graph.node if n.op_type in INTEGER_OPS
            or (n.op_type not in ("QuantizeLinear", "DequantizeLinear") and dequantized & set(n.input))]


def resolve_reduce_range(setting: str) -> tuple[bool, str]:
    """``auto``: 7-bit weights unless the CPU building the model has VNNI (see OnnxRuntimeConfig)."""
    if setting != "auto":
        return setting == "on", f"--reduce-range {setting}"
    if has_vnni():
        return False, "auto: the building CPU has VNNI (full range; a CPU without VNNI will warn)"
    return True, "auto: the building CPU lacks VNNI, where full-range u8 x s8 products saturate int16"


def _flush_every(count: int) -> int | None:
    """A flush interval that does not divide ``count``.

    ONNX Runtime computes the last range after the loop; when the final flush emptied its buffer
    it raises "No data is collected" (e.g. 32 examples flushed every 16).
    """
    return next((k for k in range(_FLUSH_EVERY, 1, -1) if count % k), None)


def quantize_onnx(fp32: Path, out: Path, cfg: OnnxRuntimeConfig, reduce_range: bool, reader=None,
                  exclude: tuple[str, ...] = (), calibration_cache: Path | None = None,
                  skipped: tuple[str, ...] | None = None) -> tuple[Path, int]:
    """Write an INT8 copy of a (preprocessed) FP32 graph; returns it and how many MatMuls were fused.

    Static QDQ graphs then get their weight MatMuls and bias Adds fused into
    ``MatMulIntegerToFloat`` (:func:`quantize.ort_fusion.fuse_int8_matmuls`).

    Args:
        fp32: the preprocessed FP32 model (see :func:`preprocess`).
        out: the INT8 file to write.
        cfg: method, mode, format, types, per-channel and op types.
        reduce_range: 7-bit weights (see :func:`resolve_reduce_range`).
        reader: a ``GlueCalibrationReader`` (static mode; unused when the cache file exists).
        exclude: node names kept in FP32.
        skipped: MatMuls to keep FP32 besides ``exclude``; ``None``: :func:`kept_fp32` of ``fp32``.
        calibration_cache: JSON file of calibrated ranges; written on the first call and reused
            after, so the accuracy guard re-quantizes without re-calibrating.
    """
    q = _ort()
    # Attention's activation x activation products stay FP32 unless asked for: quantizing them
    # adds a QuantizeLinear per operand and per head batch and was measured slower (docs/quantization.md).
    if skipped is None:  # a caller building many candidates passes the list it found once
        skipped = kept_fp32(fp32, cfg)
    common = dict(per_channel=cfg.per_channel, reduce_range=reduce_range,
                  weight_type=getattr(q.QuantType, TYPES[cfg.weight_type]),
                  nodes_to_exclude=[*exclude, *skipped], op_types_to_quantize=list(cfg.op_types))
    if cfg.mode == "dynamic":
        q.quantize_dynamic(str(fp32), str(out), **common)
        return out, 0
    extra: dict[str, Any] = {}
    if not cfg.matmul_output:
        extra["OpTypesToExcludeOutputQuantization"] = ["MatMul"]
    if cfg.method == "max":
        flush = _flush_every(len(reader)) if reader is not None else None
        if flush:
            extra["CalibMaxIntermediateOutputs"] = flush
    else:
        # Histograms are collected over all batches at once, which needs equal shapes; a stride
        # of one example makes ONNX Runtime collect (and merge) each calibration example alone.
        extra["CalibStridedMinMax"] = 1
        if cfg.method == "percentile":
            extra["CalibPercentile"] = cfg.percentile
    q.quantize_static(
        str(fp32), str(out), reader,
        quant_format=getattr(q.QuantFormat, FORMATS[cfg.quant_format]),
        activation_type=getattr(q.QuantType, TYPES[cfg.activation_type]),
        calibrate_method=getattr(q.CalibrationMethod, METHODS[cfg.method]),
        extra_options=extra, calibration_cache_path=calibration_cache, **common)
    fused = fuse_int8_matmuls(out) if cfg.quant_format == "qdq" and not cfg.matmul_output else 0
    return out, fused
