"""ONNX models (FP32 exports and INT8 graphs) run by ONNX Runtime: ``model.onnx`` (the toolkit's,
and Optimum's FP32 export) or ``model_quantized.onnx`` (Optimum's INT8), with ``config.json``."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from eval.batching import Batch
from eval.core.errors import UserError, first_line
from eval.formats.common import (ONNX_FILE, OPTIMUM_INT8_FILE, QUANTIZATION_FILE, ModelInfo, _check_labels,
                                 _read_json, _require_classifier, label_order, size_on_disk)
from eval.tasks import GlueTask


def detect(path: Path) -> bool:
    return path.suffix == ".onnx" or onnx_file_in(path) is not None


def load(model: str | Path, device: str = "cpu", threads: int | None = None) -> "OnnxPredictor":
    """ONNX Runtime runs on the CPU here whatever ``device`` says."""
    return OnnxPredictor(Path(model).expanduser(), threads=threads)


def onnx_file_in(folder: Path) -> Path | None:
    """The ONNX model of a folder: ``model.onnx`` (the toolkit's, and Optimum's FP32 export) or
    ``model_quantized.onnx`` (Optimum's INT8); ``None`` when it has neither.

    Raises:
        UserError: it has both (which one to score is the user's choice: pass the file).
    """
    found = [folder / name for name in (ONNX_FILE, OPTIMUM_INT8_FILE) if (folder / name).is_file()]
    if len(found) > 1:
        raise UserError(f"{folder} holds both {ONNX_FILE} and {OPTIMUM_INT8_FILE}; pass the one to use as --model "
                        f"(e.g. {found[1]})")
    return found[0] if found else None


# ONNX Runtime fusions this harness turns off because the fused kernel is slower than the ops it
# replaces. SkipLayerNormalization (residual Add + LayerNorm in one op), measured with ORT 1.32 on
# an Intel Xeon (Sapphire Rapids), one thread, 1x128: MiniLM-L6 FP32 1.11x and static INT8 1.37x
# faster without it; batch 32: 1.09x and 1.26x (benchmarks/results/quantize_*.json, docs/quantization.md).
SLOW_ORT_FUSIONS = ("SkipLayerNormFusion",)


class OnnxPredictor:
    """An ONNX Runtime session over ``model.onnx`` (FP32 or quantized) with its config beside it."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        file = path if path.suffix == ".onnx" else onnx_file_in(path) or path / ONNX_FILE
        folder = file.parent
        if not file.is_file():
            raise UserError(f"ONNX model {file} does not exist; export one with `quantize export`")
        if not (folder / "config.json").is_file():
            raise UserError(f"ONNX model folder {folder} has no config.json (the labels and architecture); copy the "
                            f"config.json of the model it was exported from beside {file.name}, or re-export it "
                            f"with `quantize export`")
        parameters, full_range = _onnx_weights(file)  # refuses external data outside the folder first
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"],
                                                disabled_optimizers=list(SLOW_ORT_FUSIONS))
        except Exception as err:
            raise UserError(f"cannot load ONNX model {file}: {first_line(err)}; re-export it with "
                            f"`quantize export`") from None
        self.input_names = {i.name for i in self.session.get_inputs()}
        config = _read_json(folder / "config.json")
        _require_classifier(str(folder), config.get("architectures"))
        self.num_labels = int(self.session.get_outputs()[0].shape[-1] or len(config.get("id2label", {})) or 2)
        self.id2label = {int(k): v for k, v in config.get("id2label", {}).items()}
        self._order: np.ndarray | None = None
        quantization = _read_json(folder / QUANTIZATION_FILE)
        if full_range:
            warn_full_range(file)
        self.info = ModelInfo(
            path=str(path), backend="onnxruntime",
            precision=quantization.get("precision", "int8" if file.name == OPTIMUM_INT8_FILE else "fp32"),
            parameters=parameters, size_bytes=size_on_disk(file), device="cpu",
        )

    def check_task(self, task: GlueTask) -> None:
        _check_labels(self.info.path, self.num_labels, task)
        self._order = label_order(self.id2label, task)

    def logits(self, batch: Batch) -> np.ndarray:
        feeds = {k: v for k, v in batch.items() if k in self.input_names}
        out = self.session.run(None, feeds)[0].astype(np.float32)
        return out if self._order is None else out[:, self._order]


def _onnx_weights(file: Path) -> tuple[int, bool]:
    """Parameter count, and whether any 8-bit weight that is multiplied (not an embedding table) uses
    the full 8-bit range, i.e. was built without ``reduce_range``."""
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(file), load_external_data=False).graph
    except Exception as err:  # protobuf's DecodeError and friends: not an ONNX file
        raise UserError(f"cannot load ONNX model {file}: {first_line(err)}; re-export it with "
                        f"`quantize export`") from None
    for tensor in graph.initializer:
        external_data_file(tensor, file)
    parameters = int(sum(np.prod(t.dims) for t in graph.initializer if len(t.dims) > 0))
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def only_gathered(name: str) -> bool:  # an embedding table, possibly behind a DequantizeLinear
        users = consumers.get(name, [])
        return all(u.op_type == "Gather" or (u.op_type == "DequantizeLinear" and only_gathered(u.output[0]))
                   for u in users)

    limits = {onnx.TensorProto.INT8: 64, onnx.TensorProto.UINT8: 127}  # reduce_range bounds
    full_range = any(t.data_type in limits and len(t.dims) == 2 and not only_gathered(t.name)
                     and np.abs(numpy_helper.to_array(t, str(file.parent)).astype(np.int32)).max() > limits[t.data_type]
                     for t in graph.initializer)
    return parameters, full_range


def external_data_file(tensor, model_file: Path) -> Path | None:
    """Where an initializer's external data lies: resolved against the model's folder (not the current
    directory), and refused unless it stays inside that folder and exists."""
    import onnx

    if tensor.data_location != onnx.TensorProto.EXTERNAL:
        return None
    location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "")
    folder = model_file.parent.resolve()
    path = (folder / location).resolve()
    if not location or Path(location).is_absolute() or not path.is_relative_to(folder):
        raise UserError(f"{model_file}: tensor {tensor.name!r} keeps its data at {location!r}, outside the model's "
                        f"folder; re-export the model so its data files lie beside it")
    if not path.is_file():
        raise UserError(f"{model_file}: tensor {tensor.name!r} keeps its data in {location}, which is not in "
                        f"{model_file.parent}; copy it there or re-export the model")
    return path


VNNI_FEATURES = ("avx512_vnni", "avx_vnni", "amx_int8")
_warned_full_range: set[str] = set()


def has_vnni() -> bool:
    """Whether this CPU multiplies u8 x s8 pairs without an int16 intermediate (VNNI or AMX)."""
    from eval.core.artifacts import cpu_features

    return bool(set(VNNI_FEATURES) & set(cpu_features()["features"]))


def warn_full_range(file: Path) -> None:
    """Warn once per process: full-range INT8 weights on a CPU without VNNI can saturate and give wrong logits."""
    if _warned_full_range or has_vnni():
        return
    _warned_full_range.add(str(file))
    warnings.warn(f"{file} has full-range INT8 weights, and this CPU has no VNNI: ONNX Runtime's u8 x s8 "
                  f"products can saturate here and change predictions; rebuild it on this machine with "
                  f"`quantize int8 --reduce-range on` (or `auto`)", RuntimeWarning, stacklevel=3)
