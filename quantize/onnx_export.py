"""Export a PyTorch sequence classifier to ONNX FP32 and check it against PyTorch."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.batching import Batch, encode, pad
from eval.data import GlueData
from eval.core.errors import UserError
from eval.predictors import ONNX_FILE, OnnxPredictor
from eval.tasks import TASKS
from quantize.sources import load_classifier

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# Closed registry: exporter name -> the opset it writes. ``dynamo`` is torch.export, the exporter
# torch keeps; ``legacy`` (TorchScript) is deprecated in torch 2.13 and kept only as an explicit
# choice (docs/quantization.md compares the two).
EXPORTERS = {"dynamo": 20, "legacy": 17}
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
    exporter: str
    opset: int

    def record(self) -> dict:
        """The export's part of ``quantization.json``."""
        return {"exporter": self.exporter, "opset": self.opset, "max_abs_logit_diff": self.max_abs_diff,
                "parity_examples": self.parity_examples}


def export_onnx(model: str | Path, output_dir: str | Path, parity_data: GlueData | None = None,
                max_seq_length: int = 128, exporter: str = "dynamo") -> ExportResult:
    """Write ``model.onnx`` (dynamic batch and sequence axes), ``config.json`` and the tokenizer.

    Args:
        model: a PyTorch sequence-classifier folder (or Hub id).
        output_dir: the ONNX folder to write.
        exporter: ``dynamo`` (torch.export, the default) or ``legacy`` (TorchScript).
        parity_data: examples to compare ONNX and PyTorch on; built-in sentence pairs when ``None``.

    Returns:
        The exported file and the largest logit difference from PyTorch on real text.

    Raises:
        UserError: the model is not a sequence classifier, the export fails, or ONNX disagrees
            with PyTorch by more than ``PARITY_TOLERANCE``.
    """
    out = Path(output_dir)
    torch_predictor, tokenizer = load_classifier(model)
    # Eager attention exports as plain MatMul/Softmax nodes, which ONNX Runtime quantizes node by
    # node; the SDPA path exports a pattern that neither its fusions nor its quantizer recognise.
    torch_predictor.model.set_attn_implementation("eager")
    batch = parity_batch(tokenizer, parity_data, max_seq_length)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ONNX_FILE
    _torch_export(torch_predictor.model, batch, path, torch_predictor.accepts, exporter)
    torch_predictor.model.config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    diff = parity(torch_predictor, OnnxPredictor(out), batch)
    if diff > PARITY_TOLERANCE:
        raise UserError(f"exported ONNX logits differ from PyTorch by {diff:.2e} (> {PARITY_TOLERANCE}); "
                        f"report this model's architecture as an export bug")
    return ExportResult(path, diff, len(batch["input_ids"]), exporter, EXPORTERS[exporter])


def parity_batch(tokenizer, data: GlueData | None, max_seq_length: int) -> Batch:
    """One padded batch of real text: the given examples, or the built-in sentence pairs."""
    if data is None:
        data = GlueData(TASKS["mrpc"], "dev", list(PARITY_TEXTS), None,
                        list(range(len(PARITY_TEXTS))), "built-in")
    encoded = encode(tokenizer, data, max_seq_length)
    return pad(encoded, list(range(len(encoded))))


def parity(reference, candidate, batch: Batch) -> float:
    """Max absolute logit difference between two predictors on one batch."""
    return float(np.max(np.abs(reference.logits(batch) - candidate.logits(batch))))


def _torch_export(model, batch: Batch, path: Path, accepts: set[str], exporter: str) -> None:
    import torch

    # positional order of BERT-style forward(); models without token types stop after the mask
    names = [n for n in INPUT_NAMES if n in accepts]
    args = tuple(torch.from_numpy(batch[n]) for n in names)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with torch.no_grad():
            if exporter == "legacy":
                axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
                torch.onnx.export(model, args, str(tmp), input_names=names, output_names=["logits"],
                                  dynamic_axes=axes, opset_version=EXPORTERS[exporter], dynamo=False)
            else:
                _dynamo_export(model, args, names, tmp)
        os.replace(tmp, path)
    except Exception as err:
        raise UserError(f"ONNX export failed: {first_line(err)}; "
                        f"check that the model is a standard BERT-style classifier") from None
    finally:
        tmp.unlink(missing_ok=True)


def _dynamo_export(model, args: tuple, names: list[str], path: Path) -> None:
    """torch.export -> ONNX (opset 20), one self-contained file with named dynamic axes.

    Axes are declared dynamic without names and renamed afterwards: naming the shared batch and
    sequence axes on every input makes torch warn that the repeated names "will not be used".
    The exporter's op registry logs one line per torchvision detection op it skips when
    torchvision is absent; that logger alone is set to errors (text models use none of them).
    Python warnings are left as they are.
    """
    import logging

    import torch

    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)

    dynamic = {n: {0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC} for n in names}
    program = torch.onnx.export(model, args, input_names=names, output_names=["logits"], dynamic_shapes=dynamic,
                                opset_version=EXPORTERS["dynamo"], dynamo=True, optimize=True, verbose=False)
    renames = {}
    for value in [*program.model.graph.inputs, *program.model.graph.outputs]:
        for axis, dim in enumerate(value.shape.dims[:2]):
            if not isinstance(dim, int) and dim.value is not None:
                renames[dim.value] = ("batch", "sequence")[axis]
    program.rename_axes(renames)
    program.save(str(path), external_data=False)
    _name_nodes_by_module(path)


def _name_nodes_by_module(path: Path) -> None:
    """Name each node ``<module path>/<op type>`` (``bert.encoder.layer.0.attention.self.query/MatMul``).

    The dynamo exporter names nodes ``node_MatMul_63`` and keeps the module path, with a stack
    trace of this machine's files, in per-node metadata. Module names make ``exclude``, the
    guard's per-layer groups and the INT8 graph readable; the metadata is dropped.
    """
    import onnx

    model = onnx.load(str(path))
    seen: dict[str, int] = {}
    for node in model.graph.node:
        props = {p.key: p.value for p in node.metadata_props}
        scopes = [s.strip("' ") for s in props.get("pkg.torch.onnx.name_scopes", "").strip("[]").split(",")]
        module = scopes[-2] if len(scopes) > 2 else (scopes[0] if scopes and scopes[0] else "model")
        base = f"{module}/{node.op_type}"
        seen[base] = seen.get(base, 0) + 1
        node.name = base if seen[base] == 1 else f"{base}_{seen[base] - 1}"
        del node.metadata_props[:]
    onnx.save(model, str(path))


def first_line(err: Exception) -> str:
    """An exception as one line, for ``UserError`` messages."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
