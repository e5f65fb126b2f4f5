"""``Int8Config``: everything one INT8 run needs, as frozen, validated, serialisable data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

from eval.config import load_config, to_dict
from eval.errors import UserError
from eval.tasks import get_task

Method = Literal["max", "percentile", "entropy"]
Mode = Literal["static", "dynamic"]
Backend = Literal["onnxruntime", "neural-compressor"]
QuantFormatName = Literal["qdq", "qoperator"]
Int8Type = Literal["uint8", "int8"]
Granularity = Literal["layer", "op"]

# neural-compressor's static path calibrates with min-max or KL (entropy); it has no percentile.
INC_METHODS = ("max", "entropy")


@dataclass(frozen=True)
class Int8Config:
    """One INT8 quantization run.

    The defaults are the settings measured to be accurate *and* fast on an x86 CPU with
    AVX-512 VNNI (benchmarks/quantize_int8.py): QDQ graph, uint8 activations, int8 per-channel
    weights, only MatMul and Gather (embedding) nodes quantized. LayerNorm, Softmax, GELU and the
    residual Adds stay FP32: quantizing them buys no speed in ONNX Runtime and costs accuracy.

    Attributes:
        model: the FP32 model folder (PyTorch, or one written by ``quantize export``).
        output_dir: where the INT8 folder goes.
        calib: GLUE task whose examples calibrate the activation ranges.
        calib_split: split the calibration examples are drawn from.
        calib_size: number of calibration examples (a seeded random sample of the split).
        method: activation-range calibration: ``max`` (min-max), ``percentile`` or ``entropy``.
        mode: ``static`` (calibrated) or ``dynamic`` (ranges computed at run time, a baseline).
        backend: ``onnxruntime`` (ONNX graph) or ``neural-compressor`` (PyTorch PT2E graph).
        quant_format / activation_type / weight_type / per_channel / op_types: ONNX Runtime
            quantizer settings.
        exclude: node names (ONNX) or module names (PyTorch) to keep in FP32 from the start.
        percentile: the percentile kept by ``method=percentile``.
        max_drop: accuracy guard, in points of the task's main metric on its dev split; ``None``
            scores FP32 and INT8 on dev but never falls back.
        guard_granularity: what the guard keeps in FP32: single ``op`` nodes (fine-grained, keeps
            most of the speed) or whole transformer ``layer``s. ``None``: ``op`` for ONNX Runtime,
            ``layer`` for neural-compressor, where every candidate costs a full re-calibration.
        guard_probe_size: dev examples used to rank the guard's candidates by logit SNR.
        eval_task: task scored by the guard and the report (defaults to ``calib``).
        data_dir: local GLUE folder (TSV or parquet layout); ``None`` reads the Hub.
        max_seq_length / batch_size: tokenization length and batch size of the dev evaluation.
        threads: intra-op threads for evaluation and latency (``None``: the library's default).
        seed: seed of the calibration sample.
    """

    model: str = ""
    output_dir: str = ""
    calib: str = "sst2"
    calib_split: str = "train"
    calib_size: int = 300
    method: Method = "max"
    mode: Mode = "static"
    backend: Backend = "onnxruntime"
    quant_format: QuantFormatName = "qdq"
    activation_type: Int8Type = "uint8"
    weight_type: Int8Type = "int8"
    per_channel: bool = True
    op_types: tuple[str, ...] = ("MatMul", "Gather")
    exclude: tuple[str, ...] = ()
    percentile: float = 99.999
    max_drop: float | None = None
    guard_granularity: Granularity | None = None
    guard_probe_size: int = 128
    eval_task: str | None = None
    data_dir: str | None = None
    max_seq_length: int = 128
    batch_size: int = 32
    threads: int | None = None
    seed: int = 0

    def __post_init__(self):
        problems = []
        if self.calib_size < 1:
            problems.append(f"calib_size must be at least 1, got {self.calib_size}")
        if not 0 < self.percentile <= 100:
            problems.append(f"percentile must be in (0, 100], got {self.percentile}")
        if self.max_drop is not None and self.max_drop < 0:
            problems.append(f"max_drop is in points and must be >= 0, got {self.max_drop}")
        if self.max_seq_length < 8 or self.batch_size < 1:
            problems.append("max_seq_length must be >= 8 and batch_size >= 1")
        if self.backend == "neural-compressor" and self.method not in INC_METHODS:
            problems.append(f"method {self.method!r} is not offered by neural-compressor; use "
                            f"{' or '.join(INC_METHODS)}, or --backend onnxruntime")
        if self.guard_probe_size < 1:
            problems.append(f"guard_probe_size must be at least 1, got {self.guard_probe_size}")
        if self.backend == "neural-compressor" and self.mode == "dynamic":
            problems.append("dynamic mode is an ONNX Runtime baseline; use --backend onnxruntime")
        if problems:
            raise UserError("; ".join(problems))
        get_task(self.calib)  # unknown task names fail here, with the list of valid ones
        get_task(self.task_for_eval)

    @property
    def task_for_eval(self) -> str:
        return self.eval_task or self.calib

    @property
    def granularity(self) -> str:
        if self.guard_granularity:
            return self.guard_granularity
        return "layer" if self.backend == "neural-compressor" else "op"


def load_int8_config(recipe: str | Path | None = None, flags: Mapping[str, Any] | None = None,
                     overrides: list[str] | None = None) -> Int8Config:
    """Defaults < recipe YAML < named flags < ``--set key=value``; every problem in one error."""
    config = load_config(Int8Config, recipe, flags=flags, overrides=overrides)
    missing = [name for name in ("model", "output_dir") if not getattr(config, name)]
    if missing:
        raise UserError(f"missing {', '.join(missing)}: pass --model DIR and --output-dir OUT")
    return config


def config_dict(config: Int8Config) -> dict[str, Any]:
    """A JSON/YAML-ready view that ``load_config(Int8Config, ...)`` reads back unchanged."""
    return to_dict(config)
