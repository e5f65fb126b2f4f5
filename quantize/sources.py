"""Open the FP32 model a command exports or quantizes; a damaged folder is a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

from eval.core.errors import UserError, first_line
from eval.core.model_card import GLUE_DATASET, card_header
from eval.predictors import (INC_FILE, ONNX_FILE, QUANTIZATION_FILE, RUN_CONFIG_FILE, RUN_RECORD_FILE, TorchPredictor,
                             load_tokenizer)

# Files any of which makes a tokenizer (fast JSON, WordPiece vocab, SentencePiece model).
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model")


def require_tokenizer(folder: Path) -> None:
    """A local model folder must carry its tokenizer: without one ``transformers`` would score the
    model with a default vocabulary of a few tokens (every word ``[UNK]``), a silent wrong result."""
    if folder.is_dir() and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise UserError(f"model folder {folder} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}, ...); "
                        f"save the tokenizer beside the model (tokenizer.save_pretrained)")


# ONNX ops only a quantized graph holds: Q/DQ pairs, dynamic quantization, integer kernels.
_QUANTIZED_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "QLinearMatMul",
                  "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QGemm", "QAttention", "QLinearAdd", "QLinearMul",
                  "QEmbedLayerNormalization", "QLinearSoftmax", "ConvInteger", "QLinearConv"}


def refuse_int8_source(model: str | Path) -> None:
    """Refuse to quantize what is already INT8: its ranges would be calibrated on rounded weights, and
    the record would call a doubly quantized model a copy of an INT8 one.

    Raises:
        UserError: the folder's ``quantization.json`` says INT8, it holds a neural-compressor INT8
            model, or its ONNX graph has quantized ops or 8-bit weights.
    """
    path = Path(model).expanduser()
    folder = path.parent if path.suffix == ".onnx" else path
    reason = None
    try:
        record = json.loads((folder / QUANTIZATION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    if isinstance(record, dict) and record.get("precision") == "int8":
        reason = f"its {QUANTIZATION_FILE} says precision int8"
    elif (folder / INC_FILE).is_file():
        reason = f"it holds a neural-compressor INT8 model ({INC_FILE})"
    else:
        onnx_file = path if path.suffix == ".onnx" else folder / ONNX_FILE
        ops = _quantized_ops(onnx_file) if onnx_file.is_file() else set()
        if ops:
            reason = f"its ONNX graph has quantized ops ({', '.join(sorted(ops)[:3])})"
    if reason:
        source = record.get("source_model") if isinstance(record, dict) else None
        raise UserError(f"model {model} is already INT8 ({reason}); quantize its FP32 source instead"
                        + (f" ({source}, per its {QUANTIZATION_FILE})" if source else ""))


def model_task(model: str | Path, depth: int = 3) -> tuple[str, str] | None:
    """The task a model was trained on, as its folder records it, and where it says so.

    Most exact first: the `distill` run record (``metrics.json``: its config's ``task``, a GLUE
    name or the path of a task spec), ``run_config.yaml``, then for a folder from ``quantize
    export`` the folder it was exported from, then the GLUE dataset its model card names (a card
    names a task spec only by name, which does not say where its data is).

    Returns:
        ``(task, source)``: ``task`` as ``--calib`` takes it, ``source`` the file that names it;
        ``None`` when the folder records no task (a Hub id, a general-distillation run, a folder
        written by other tools).
    """
    path = Path(model).expanduser()
    folder = path.parent if path.suffix == ".onnx" else path
    if not folder.is_dir():
        return None
    record = _read_json(folder / RUN_RECORD_FILE)
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    for task in (config.get("task"), record.get("task")):
        if isinstance(task, str) and task:
            return task, str(folder / RUN_RECORD_FILE)
    task = _run_config_task(folder / RUN_CONFIG_FILE)
    if task:
        return task, str(folder / RUN_CONFIG_FILE)
    source = _read_json(folder / QUANTIZATION_FILE).get("source_model")
    if depth > 0 and isinstance(source, str) and source and Path(source).expanduser().resolve() != folder.resolve():
        found = model_task(source, depth - 1)
        if found:
            return found
    for entry in card_header(folder).get("model-index") or []:
        for result in (entry.get("results") or []) if isinstance(entry, dict) else []:
            dataset = result.get("dataset") if isinstance(result, dict) else None
            if isinstance(dataset, dict) and dataset.get("type") == GLUE_DATASET and isinstance(dataset.get("config"), str):
                return dataset["config"], str(folder / "README.md")
    return None


def _read_json(file: Path) -> dict:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _run_config_task(file: Path) -> str | None:
    from eval.core import safe_yaml

    try:
        data = safe_yaml.load(file.read_text(encoding="utf-8"), str(file))
    except (OSError, UnicodeDecodeError, UserError):
        return None
    task = data.get("task") if isinstance(data, dict) else None
    return task if isinstance(task, str) and task else None


def _quantized_ops(file: Path) -> set[str]:
    """Quantized op types (or 8-bit weights) of an ONNX graph; an unreadable one is left to the loader to report."""
    import onnx

    try:
        graph = onnx.load(str(file), load_external_data=False).graph
    except Exception:  # protobuf errors of many types: check_onnx reports them with the fix
        return set()
    ops = {node.op_type for node in graph.node if node.op_type in _QUANTIZED_OPS}
    if any(t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8) for t in graph.initializer):
        ops.add("8-bit weights")
    return ops


def load_classifier(model: str | Path) -> tuple[TorchPredictor, object]:
    """The PyTorch classifier and its tokenizer, on CPU.

    Raises:
        UserError: the folder is missing, lacks its config, weights or tokenizer, or they are
            truncated or corrupt, or it is not a sequence classifier.
    """
    folder = Path(model).expanduser()
    if str(model).startswith(("/", ".", "~")) and not folder.exists():
        raise UserError(f"model folder {model} does not exist; pass a model folder or a Hub id")
    require_tokenizer(folder)
    try:
        predictor = TorchPredictor(str(model), device="cpu")
    except UserError:
        raise
    except Exception as err:  # transformers, safetensors and OS errors all mean a damaged folder here
        raise UserError(f"cannot load model {model}: {first_line(err)}; check that the folder holds a complete "
                        f"config.json and weights (model.safetensors) of a sequence classifier") from None
    return predictor, load_tokenizer(model)
