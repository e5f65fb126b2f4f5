"""Calibration examples from the GLUE harness's data, for ONNX Runtime and neural-compressor."""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from eval.batching import Batch, encode, pad
from eval.data import GlueData, load_split
from eval.core.errors import UserError
from eval.tasks import GlueTask


def calibration_sample(task: GlueTask, split: str, size: int, data_dir: str | None,
                       seed: int = 0) -> GlueData:
    """A seeded random sample of ``size`` examples of a split.

    GLUE files are often grouped by source or label, so the first N rows would calibrate on a
    biased slice; a random sample does not.

    Raises:
        UserError: the split has fewer than ``size`` examples.
    """
    data = load_split(task, split, data_dir)
    if len(data) < size:
        raise UserError(f"calibration set {task.name}/{split} has {len(data)} examples, fewer than the "
                        f"{size} requested; lower --calib-size or use a larger --calib-split")
    rows = np.sort(np.random.default_rng(seed).permutation(len(data))[:size])
    return GlueData(task, split, [data.texts[r] for r in rows],
                    None if data.labels is None else [data.labels[r] for r in rows],
                    [data.indices[r] for r in rows], data.source)


def calibration_set(cfg, tokenizer) -> tuple[list[Batch], dict]:
    """The calibration batches an INT8 config asks for, and the record that describes them."""
    data = calibration_sample(cfg.calib_task, cfg.calib_split, cfg.calib_size, cfg.data_dir, cfg.seed)
    record = {"task": cfg.calib, "split": cfg.calib_split, "size": len(data), "seed": cfg.seed,
              "source": data.source, "max_seq_length": cfg.max_seq_length}
    return calibration_batches(tokenizer, data, cfg.max_seq_length), record


def calibration_batches(tokenizer, data: GlueData, max_seq_length: int) -> list[Batch]:
    """One unpadded batch per example.

    Batch size 1 on purpose: the hidden states of padding positions are computed (then masked)
    and would widen the min-max ranges that static INT8 depends on.
    """
    encoded = encode(tokenizer, data, max_seq_length)
    return [pad(encoded, [row]) for row in range(len(encoded))]


class GlueCalibrationReader(CalibrationDataReader):
    """An ONNX Runtime ``CalibrationDataReader`` over calibration batches.

    ONNX Runtime may read the data more than once, hence ``rewind``; histogram calibration reads
    it one example at a time through ``set_range`` (strided calibration), because it stacks the
    batches of one read into one array, which examples of different lengths cannot form.
    """

    def __init__(self, batches: list[Batch], input_names: set[str]):
        self.feeds = [{k: v for k, v in batch.items() if k in input_names} for batch in batches]
        self.set_range(0, len(self.feeds))

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self.set_range(0, len(self.feeds))

    def set_range(self, start_index: int, end_index: int) -> None:
        self._iter: Iterator[dict[str, np.ndarray]] = iter(self.feeds[start_index:end_index])

    def __len__(self) -> int:
        return len(self.feeds)


def inc_run_fn(batches: list[Batch]) -> Callable:
    """A neural-compressor calibration function: runs the prepared model over every batch."""

    def run_fn(model) -> None:
        import torch

        with torch.no_grad():
            for batch in batches:
                model(*torch_inputs(batch))

    return run_fn


def torch_inputs(batch: Batch) -> tuple:
    """``(input_ids, attention_mask, token_type_ids)`` tensors: the positional order BERT takes."""
    import torch

    return tuple(torch.from_numpy(batch[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))
