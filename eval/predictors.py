"""Predictors: one interface over PyTorch, ONNX Runtime and neural-compressor INT8 sequence classifiers.

A predictor maps a padded batch of token ids to logits ``[batch, num_labels]`` in the task's
label order. The harness never learns which backend it talks to. :func:`load_predictor` asks
each format of :mod:`eval.formats` in turn whether it recognises the model: ``model.onnx`` means
ONNX Runtime, ``model_int8.safetensors`` a neural-compressor INT8 model (rebuilt from
safetensors, never unpickled), otherwise ``transformers`` loads it (a local folder or a Hub id).
The names of the formats are re-exported here, where callers have always found them.
"""

from __future__ import annotations

from pathlib import Path

from eval.core.errors import UserError
from eval.formats import inc_int8, onnx, pytorch
from eval.formats.common import (INC_FILE, INC_FORMAT, LEGACY_INC_FILE, ONNX_FILE, OPTIMUM_INT8_FILE, PICKLE_WEIGHTS,
                                 QUANTIZATION_FILE, RUN_CONFIG_FILE, RUN_RECORD_FILE, TOKENIZER_FILES, ModelInfo,
                                 Predictor, check_embeddings_cover_tokenizer, check_model_path, check_vocabulary_size,
                                 is_sequence_classifier, label_order, load_tokenizer, refuse_pickle_weights,
                                 resolve_device, size_on_disk, unfinished_run)
from eval.formats.inc_int8 import IncPredictor, build_inc_int8, load_inc_int8, save_inc_int8
from eval.formats.onnx import SLOW_ORT_FUSIONS, OnnxPredictor, has_vnni, onnx_file_in
from eval.formats.pytorch import TorchPredictor

FORMATS = (onnx, inc_int8, pytorch)  # asked in this order; PyTorch takes whatever is left

__all__ = ["FORMATS", "INC_FILE", "INC_FORMAT", "LEGACY_INC_FILE", "ONNX_FILE", "OPTIMUM_INT8_FILE", "PICKLE_WEIGHTS",
           "QUANTIZATION_FILE", "RUN_CONFIG_FILE", "RUN_RECORD_FILE", "SLOW_ORT_FUSIONS", "TOKENIZER_FILES",
           "IncPredictor", "ModelInfo", "OnnxPredictor", "Predictor", "TorchPredictor", "build_inc_int8",
           "check_embeddings_cover_tokenizer", "check_model_path", "check_vocabulary_size", "has_vnni",
           "is_sequence_classifier", "label_order", "load_inc_int8", "load_predictor", "load_tokenizer",
           "onnx_file_in", "refuse_pickle_weights", "resolve_device", "save_inc_int8", "size_on_disk",
           "unfinished_run"]


def load_predictor(model: str | Path, device: str = "auto", threads: int | None = None,
                   allow_unfinished: bool = False) -> Predictor:
    """Load a sequence classifier from a folder (PyTorch or ONNX), an ``.onnx`` file, or a Hub id.

    Args:
        allow_unfinished: load an unfinished training run's best-so-far weights (``--allow-unfinished``).

    Raises:
        UserError: a file that is not a model, a training run that has not finished (unless
            ``allow_unfinished``), or a folder the backend cannot load.
    """
    path = Path(model).expanduser()
    check_model_path(path)
    if path.is_dir() and unfinished_run(path) and not allow_unfinished:
        raise UserError(f"model folder {path} is an unfinished training run ({RUN_CONFIG_FILE} but no {RUN_RECORD_FILE} "
                        f"with \"completed\": true): its weights are the best so far, not the finished model; "
                        f"re-run the same `distill` command to finish it, or pass --allow-unfinished to score it anyway")
    fmt = next(fmt for fmt in FORMATS if fmt.detect(path))
    return fmt.load(model, device=device, threads=threads)
