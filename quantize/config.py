"""INT8 run configs: one frozen, validated config per backend, holding only the options it honours.

``OnnxRuntimeConfig`` and ``NeuralCompressorConfig`` share the fields of :class:`Int8Settings`
(model, calibration sample, accuracy guard, dev evaluation) by declaration only: no behaviour is
inherited, each config validates itself in its own ``__post_init__``. A recipe is a flat YAML
mapping with a ``backend:`` key that picks the config class; an option of the other backend is an
error naming both (``per_channel`` is an onnxruntime option; neural-compressor does not honour
it). Every problem of a recipe, its flags and ``--set`` overrides is reported in one error.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, Mapping, Union


from eval.core.config import load_config, read_value, read_yaml, seed_problem, to_dict
from eval.core.errors import UserError
from eval.core.model_card import license_problem
from eval.tasks import Task, get_task

Granularity = Literal["layer", "op"]
Int8Type = Literal["uint8", "int8"]
Switch = Literal["auto", "on", "off"]

# Closed registry: the ONNX op types ONNX Runtime's quantizer turns into INT8 and this toolkit
# has measured (benchmarks/quantize_int8.py). Anything else is refused before a model is loaded.
ORT_OP_TYPES = ("MatMul", "Gather", "Gemm", "Add", "Mul", "LayerNormalization", "Softmax", "Transpose",
                "Reshape", "Attention", "EmbedLayerNormalization")


@dataclass(frozen=True)
class Int8Settings:
    """Fields every backend honours (declared here once; see the module docstring).

    Attributes:
        backend: which library quantizes: ``onnxruntime`` or ``neural-compressor``.
        model: the FP32 model folder (PyTorch, or for onnxruntime one written by ``quantize export``).
        output_dir: where the INT8 folder goes (built beside it and swapped in whole).
        calib: task whose examples calibrate the activation ranges (a GLUE name or a task spec);
            ``None``: the task the model was trained on, read from its folder
            (:func:`quantize.sources.model_task`); a model whose task is unknown needs one.
        calib_split: split the calibration examples are drawn from.
        calib_size: number of calibration examples (a seeded random sample of the split).
        exclude: node names (ONNX) or module names (PyTorch) kept in FP32 from the start; a name
            the model does not have is an error.
        max_drop: accuracy guard, in points of the task's main metric on its dev split; ``None``
            scores FP32 and INT8 on dev but never falls back.
        guard_granularity: what the guard keeps in FP32: single ``op`` nodes or whole ``layer`` s.
            ``None``: ``op`` for ONNX Runtime, ``layer`` for neural-compressor (each candidate
            there costs a full re-calibration).
        guard_probe_size: dev examples used to rank the guard's candidates by logit SNR.
        eval_task: task scored by the guard and the report (defaults to ``calib``).
        data_dir: local GLUE folder (TSV or parquet layout); ``None`` reads the Hub.
        max_seq_length / batch_size: tokenization length and batch size of calibration and dev.
        threads: intra-op threads for evaluation and latency (``None``: the library's default).
        seed: seed of the calibration sample.
        license: the model card's ``license`` (a Hub license id); ``None``: the FP32 model's, else ``other``.
        allow_fallback: keep a result in which the accuracy guard left most quantizable nodes in
            FP32, or that is under 1.5x smaller than FP32 (``MIN_INT8_SHARE``, ``MIN_SIZE_RATIO`` in
            :mod:`quantize.driver`); without it that is an error.
    """

    backend: str = "onnxruntime"
    model: str = ""
    output_dir: str = ""
    calib: str | None = None
    calib_split: str = "train"
    calib_size: int = 300
    exclude: tuple[str, ...] = ()
    max_drop: float | None = None
    guard_granularity: Granularity | None = None
    guard_probe_size: int = 128
    eval_task: str | None = None
    data_dir: str | None = None
    max_seq_length: int = 128
    batch_size: int = 32
    threads: int | None = None
    seed: int = 0
    license: str | None = None
    allow_fallback: bool = False

    @property
    def task_for_eval(self) -> str | None:
        return self.eval_task or self.calib

    # The names resolved once per config: a task spec file is read once, not at every use.
    @functools.cached_property
    def calib_task(self) -> Task:
        """The calibration task (``calib`` resolved)."""
        return get_task(self.calib)

    @functools.cached_property
    def scored_task(self) -> Task:
        """The task scored on dev by the guard and the report (``eval_task``, else ``calib``, resolved)."""
        return self.calib_task if self.eval_task is None else get_task(self.eval_task)

    @property
    def granularity(self) -> str:
        return self.guard_granularity or ("layer" if self.backend == "neural-compressor" else "op")


@dataclass(frozen=True)
class OnnxRuntimeConfig(Int8Settings):
    """INT8 with ``onnxruntime.quantization`` on an ONNX graph (static or dynamic).

    The defaults are the settings measured fastest while accurate (docs/quantization.md): QDQ
    graph, uint8 activations, int8 per-channel weights, MatMul and the embedding Gather in INT8,
    MatMul outputs left FP32 so ONNX Runtime runs ``MatMulIntegerToFloat`` kernels.

    Attributes:
        method: activation-range calibration: ``max`` (min-max), ``percentile`` or ``entropy``.
        mode: ``static`` (calibrated) or ``dynamic`` (ranges computed at run time, a baseline).
        quant_format: ``qdq`` (Q/DQ pairs ONNX Runtime fuses) or ``qoperator`` (QLinear* ops).
        activation_type / weight_type: 8-bit types of activations and weights.
        per_channel: one weight scale per output channel instead of per tensor.
        op_types: ONNX op types to quantize (from ``ORT_OP_TYPES``).
        matmul_output: also quantize MatMul outputs (QLinearMatMul); off by default: an extra
            rounding before the bias and, measured, no faster.
        attention_matmuls: also quantize attention's activation x activation products (scores
            and context); off by default: every MatMul with a constant weight is INT8, these
            stay FP32 (measured faster, and they hold no weights to shrink).
        percentile: the percentile kept by ``method=percentile``.
        reduce_range: 7-bit weights. Without VNNI, x86 CPUs multiply u8 x s8 pairs with an int16
            sum that saturates on full-range weights; ``auto`` reduces the range when the CPU
            that builds the model lacks VNNI (recorded in quantization.json, and a full-range
            model loaded on such a CPU warns).
        smooth_quant: SmoothQuant migration strength alpha in (0, 1]: per-channel activation
            outliers are divided out before every weight MatMul and multiplied into its weights,
            so every MatMul stays INT8 with max calibration. ``None``: off.
        exporter: how a PyTorch model is exported first: ``dynamo`` (torch.export) or
            ``legacy`` (TorchScript; kept only as an explicit choice, see the docs).
    """

    backend: Literal["onnxruntime"] = "onnxruntime"
    method: Literal["max", "percentile", "entropy"] = "max"
    mode: Literal["static", "dynamic"] = "static"
    quant_format: Literal["qdq", "qoperator"] = "qdq"
    activation_type: Int8Type = "uint8"
    weight_type: Int8Type = "int8"
    per_channel: bool = True
    op_types: tuple[str, ...] = ("MatMul", "Gather")
    matmul_output: bool = False
    attention_matmuls: bool = False
    percentile: float = 99.999
    reduce_range: Switch = "auto"
    smooth_quant: float | None = None
    exporter: Literal["dynamo", "legacy"] = "dynamo"

    def __post_init__(self):
        problems = _shared_problems(self)
        if not 0 < self.percentile <= 100:
            problems.append(f"percentile must be in (0, 100], got {self.percentile}")
        unknown = [t for t in self.op_types if t not in ORT_OP_TYPES]
        if unknown:
            problems.append(f"op_types {unknown} are not op types ONNX Runtime quantizes; choose among "
                            f"{', '.join(ORT_OP_TYPES)}")
        if not self.op_types:
            problems.append("op_types is empty: nothing would be quantized; e.g. op_types=[MatMul, Gather]")
        if self.smooth_quant is not None and not 0 < self.smooth_quant <= 1:
            problems.append(f"smooth_quant (alpha) must be in (0, 1], got {self.smooth_quant}")
        if self.mode == "dynamic" and self.smooth_quant is not None:
            problems.append("smooth_quant needs calibration; use mode=static")
        if self.mode == "dynamic":  # ranges computed at run time: the calibration method is never used
            defaults = {f.name: f.default for f in dataclasses.fields(self)}
            problems += [f"{name} is an option of mode static (calibration); mode dynamic does not honour it: "
                         f"drop it or use mode static" for name in ("method", "percentile")
                         if getattr(self, name) != defaults[name]]
        _raise(problems)


@dataclass(frozen=True)
class NeuralCompressorConfig(Int8Settings):
    """Static INT8 with neural-compressor 3.x on a PyTorch graph (PT2E, X86InductorQuantizer).

    Linear layers get uint8 per-tensor activations and int8 per-channel weights; embeddings
    stay FP32. The folder stores the INT8 weights and scales as safetensors (never a pickle).

    Attributes:
        method: activation-range calibration: ``max`` (min-max) or ``entropy`` (KL);
            neural-compressor has no percentile.
    """

    backend: Literal["neural-compressor"] = "neural-compressor"
    method: Literal["max", "entropy"] = "max"

    def __post_init__(self):
        _raise(_shared_problems(self))


Int8Config = Union[OnnxRuntimeConfig, NeuralCompressorConfig]
CONFIGS: dict[str, type] = {"onnxruntime": OnnxRuntimeConfig, "neural-compressor": NeuralCompressorConfig}


def _shared_problems(cfg: Int8Settings) -> list[str]:
    problems = []
    for name, low in (("calib_size", 1), ("batch_size", 1), ("max_seq_length", 8), ("guard_probe_size", 1)):
        if getattr(cfg, name) < low:
            problems.append(f"{name} must be at least {low}, got {getattr(cfg, name)}")
    if cfg.max_seq_length > 512:
        problems.append(f"max_seq_length must be at most 512 (BERT's position limit), got {cfg.max_seq_length}")
    if cfg.threads is not None and cfg.threads < 1:
        problems.append(f"threads must be at least 1, got {cfg.threads}")
    if cfg.max_drop is not None and cfg.max_drop < 0:
        problems.append(f"max_drop is in points and must be >= 0, got {cfg.max_drop}")
    if isinstance(cfg.seed, int) and seed_problem("seed", cfg.seed):
        problems.append(seed_problem("seed", cfg.seed))
    if license_problem(cfg.license):
        problems.append(license_problem(cfg.license))
    for field in ("calib", "eval_task"):
        value = getattr(cfg, field)
        if is_future_spec(value):
            continue  # a task spec an earlier pipeline stage writes (glue holdout): checked when the command runs
        if value is not None:
            try:
                get_task(value)  # a GLUE name or spelling (or, where eval supports them, a task spec file)
            except UserError as err:
                problems.append(f"{field}: {err}")
    return problems


def is_future_spec(value: Any) -> bool:
    """A task spec path that does not exist yet (a pipeline's earlier stage writes it)."""
    return isinstance(value, str) and Path(value).suffix.lower() in (".yaml", ".yml") and not Path(value).exists()


def _raw_range_problems(cls: type, data: Mapping[str, Any]) -> list[str]:
    """Range problems of the numbers in ``data``, for when type errors kept the config from being built."""
    values = {f.name: f.default for f in dataclasses.fields(cls)}
    numbers = {k: v for k, v in data.items() if k in values and isinstance(v, (int, float)) and not isinstance(v, bool)
               and isinstance(values[k], (int, float, type(None))) and not isinstance(values[k], bool)}
    return [p for p in _shared_problems(SimpleNamespace(**{**values, **numbers})) if "unknown GLUE task" not in p]


def _raise(problems: list[str]) -> None:
    if problems:
        raise UserError("; ".join(problems))


RENAMED = {"allow_mostly_fp32": "allow_fallback"}  # old key -> its current name


def int8_config_from_dict(data: Mapping[str, Any], where: str = "") -> Int8Config:
    """The config of ``data['backend']`` (default onnxruntime) built from a plain mapping.

    Raises:
        UserError: listing every problem at once: an unknown backend, options the chosen backend
            does not honour (naming it), unknown keys, wrong types, values out of range.
    """
    data = dict(data)
    for old, new in RENAMED.items():  # a quantize_config.yaml written before a rename still loads
        if old in data and new not in data:
            data[new] = data.pop(old)
    backend = data.get("backend", "onnxruntime")
    if backend not in CONFIGS:
        raise UserError(f"invalid config{where}: unknown backend {backend!r}; choose one of {', '.join(CONFIGS)}")
    cls = CONFIGS[backend]
    own = {f.name for f in dataclasses.fields(cls)}
    foreign = {name: other for other, other_cls in CONFIGS.items() if other != backend
               for name in (f.name for f in dataclasses.fields(other_cls)) if name not in own}
    problems = [f"{key} is an option of backend {foreign[key]}; backend {backend} does not honour it"
                for key in data if key in foreign]
    misspelt = set()  # a misspelt option of another backend: name the option and its backend
    for key in (k for k in data if k not in own and k not in foreign):
        close = difflib.get_close_matches(str(key), list(foreign), n=1)
        if close and not difflib.get_close_matches(str(key), list(own), n=1):
            misspelt.add(key)
            problems.append(f"unknown key {key!r} (did you mean {close[0]!r}? it is an option of backend "
                            f"{foreign[close[0]]}, which backend {backend} does not honour)")
    try:
        config = load_config(cls, flags={k: v for k, v in data.items() if k not in foreign and k not in misspelt})
    except UserError as err:
        problems.append(str(err).removeprefix("invalid config: "))
        problems += _raw_range_problems(cls, data)  # the config was not built, so not range-checked
        config = None
    if problems:
        raise UserError(f"invalid config{where}: " + "; ".join(problems))
    return config


def load_int8_config(recipe: str | Path | None = None, flags: Mapping[str, Any] | None = None,
                     overrides: list[str] | None = None, require_paths: bool = True) -> Int8Config:
    """Defaults < recipe YAML < named flags (``None``: not given) < ``--set key=value``.

    Raises:
        UserError: every problem in one line (see :func:`int8_config_from_dict`), plus a missing
            ``model`` or ``output_dir`` when ``require_paths``.
    """
    data: dict[str, Any] = dict(read_yaml(recipe)) if recipe else {}
    data.update({key: value for key, value in (flags or {}).items() if value is not None})
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {item!r} is not key=value (e.g. --set calib_size=500)")
        data[key.strip()] = read_value(raw, f"--set {item!r}: the value")
    where = f" in {recipe}" if recipe else ""
    missing = [k for k in ("model", "output_dir") if require_paths and not data.get(k)]
    try:
        config = int8_config_from_dict(data, where)
    except UserError as err:
        if not missing:
            raise
        raise UserError(f"{err}; missing {', '.join(missing)}: pass --model DIR and --output-dir OUT") from None
    if missing:
        raise UserError(f"missing {', '.join(missing)}: pass --model DIR and --output-dir OUT")
    return config


def config_dict(config: Int8Config) -> dict[str, Any]:
    """A JSON/YAML-ready view that :func:`int8_config_from_dict` reads back unchanged."""
    return to_dict(config)
