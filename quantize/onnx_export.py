"""Export a PyTorch sequence classifier to ONNX FP32 and check it against PyTorch."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.batching import Batch, encode, pad
from eval.data import GlueData
from eval.errors import UserError
from eval.predictors import ONNX_FILE, OnnxPredictor, TorchPredictor, load_tokenizer
from eval.tasks import get_task

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17
PARITY_TOLERANCE = 1e-3  # max |logit difference|; FP32 kernels differ only by summation order

# Real sentence pairs (MRPC-style, varied lengths) so the parity check pads and masks like GLUE.
PARITY_TEXTS = (
    ("The company said its third-quarter profit rose 12 percent.", "Profit climbed 12 percent in the third quarter, the company said."),
    ("He was arrested on Tuesday.", "Police detained the man on Tuesday after a two-day search of the area."),
    ("A man is playing a guitar.", "A woman is slicing an onion."),
    ("Shares fell sharply in early trading after the report was released on Monday morning.", "Stocks dropped."),
)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    max_abs_diff: float  # max |ONNX - PyTorch| logit on the parity batch
    parity_examples: int


def export_onnx(model: str | Path, output_dir: str | Path, parity_data: GlueData | None = None,
                max_seq_length: int = 128) -> ExportResult:
    """Write ``model.onnx`` (dynamic batch and sequence axes), ``config.json`` and the tokenizer.

    Args:
        model: a PyTorch sequence-classifier folder (or Hub id).
        output_dir: the ONNX folder to write.
        parity_data: examples to compare ONNX and PyTorch on; built-in sentence pairs when ``None``.

    Returns:
        The exported file and the largest logit difference from PyTorch on real text.

    Raises:
        UserError: the model is not a sequence classifier, the export fails, or ONNX disagrees
            with PyTorch by more than ``PARITY_TOLERANCE``.
    """
    out = Path(output_dir)
    torch_predictor = TorchPredictor(str(model), device="cpu")
    tokenizer = load_tokenizer(model)
    # Eager attention exports as plain MatMul/Softmax nodes, which ONNX Runtime quantizes node by
    # node; the SDPA path exports a pattern that neither its fusions nor its quantizer recognise.
    torch_predictor.model.set_attn_implementation("eager")
    batch = parity_batch(tokenizer, parity_data, max_seq_length)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ONNX_FILE
    _torch_export(torch_predictor.model, batch, path, torch_predictor.accepts)
    torch_predictor.model.config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    diff = parity(torch_predictor, OnnxPredictor(out), batch)
    if diff > PARITY_TOLERANCE:
        raise UserError(f"exported ONNX logits differ from PyTorch by {diff:.2e} (> {PARITY_TOLERANCE}); "
                        f"report this model's architecture as an export bug")
    return ExportResult(path, diff, len(batch["input_ids"]))


def parity_batch(tokenizer, data: GlueData | None, max_seq_length: int) -> Batch:
    """One padded batch of real text: the given examples, or the built-in sentence pairs."""
    if data is None:
        data = GlueData(get_task("mrpc"), "dev", list(PARITY_TEXTS), None,
                        list(range(len(PARITY_TEXTS))), "built-in")
    encoded = encode(tokenizer, data, max_seq_length)
    return pad(encoded, list(range(len(encoded))))


def parity(reference, candidate, batch: Batch) -> float:
    """Max absolute logit difference between two predictors on one batch."""
    return float(np.max(np.abs(reference.logits(batch) - candidate.logits(batch))))


def _torch_export(model, batch: Batch, path: Path, accepts: set[str]) -> None:
    import torch

    # positional order of BERT-style forward(); models without token types stop after the mask
    names = [n for n in INPUT_NAMES if n in accepts]
    args = tuple(torch.from_numpy(batch[n]) for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
            # The TorchScript exporter writes one self-contained file whose graph ONNX Runtime's
            # quantizer and BERT fusions know; the dynamo exporter splits weights into .data files.
            torch.onnx.export(model, args, str(tmp), input_names=names, output_names=["logits"],
                              dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        os.replace(tmp, path)
    except Exception as err:
        raise UserError(f"ONNX export failed: {first_line(err)}; "
                        f"check that the model is a standard BERT-style classifier") from None
    finally:
        tmp.unlink(missing_ok=True)


def first_line(err: Exception) -> str:
    """An exception as one line, for ``UserError`` messages."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
