"""neural-compressor INT8 models, stored by this toolkit as ``model_int8.safetensors``: int8 weights,
their scales, activation scales and the FP32 rest, with the layout in the file's metadata. The
writer (:func:`save_inc_int8`) and the reader (:func:`load_inc_int8`) live here together, so the
format cannot drift; a folder is rebuilt from tensors, never unpickled."""

from __future__ import annotations

import functools
import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from eval.batching import Batch
from eval.core.errors import UserError, first_line
from eval.formats.common import (INC_FILE, INC_FORMAT, LEGACY_INC_FILE, QUANTIZATION_FILE, ModelInfo, _check_labels, _read_json,
                                 _require_classifier, label_order, size_on_disk)
from eval.tasks import GlueTask


def detect(path: Path) -> bool:
    """This format's file, or the old pickled one (recognised, to be refused by :func:`load`)."""
    return (path / INC_FILE).is_file() or (path / LEGACY_INC_FILE).is_file()


def load(model: str | Path, device: str = "cpu", threads: int | None = None) -> "IncPredictor":
    path = Path(model).expanduser()
    if not (path / INC_FILE).is_file():
        raise UserError(f"{path} holds a neural-compressor model in the old {LEGACY_INC_FILE} format, which "
                        f"runs code when loaded (pickle) and is refused; re-create it with "
                        f"`quantize int8 --backend neural-compressor`")
    return IncPredictor(path, threads=threads)


def save_inc_int8(folder: Path, tensors: dict, layout: dict) -> Path:
    """Write an INT8 state (tensors keyed like the model's state dict, and their layout) as the format's file."""
    from safetensors.torch import save_file

    path = folder / INC_FILE
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path),
              metadata={"format": INC_FORMAT, "layout": json.dumps(layout)})
    path.chmod(0o644)  # safetensors writes 0600; the folder is meant to be shared
    return path


class IncPredictor:
    """A neural-compressor INT8 classifier (``model_int8.safetensors``) with its config beside it.

    The folder holds plain tensors (int8 weights, their per-channel scales, activation scales and
    the FP32 rest) and the architecture in ``config.json``; the model is rebuilt from those, so
    loading never unpickles anything. ``module`` skips loading (a model just quantized in memory).
    """

    def __init__(self, path: Path, threads: int | None = None, module=None):
        import torch

        self.torch, self.threads = torch, threads
        folder = Path(path)
        config = _read_json(folder / "config.json")
        _require_classifier(str(folder), config.get("architectures"))
        self.module = module if module is not None else load_inc_int8(folder)
        self.num_labels = int(config.get("num_labels") or len(config.get("id2label", {})) or 2)
        self.id2label = {int(k): v for k, v in config.get("id2label", {}).items()}
        self._order: np.ndarray | None = None
        quantization = _read_json(folder / QUANTIZATION_FILE)
        self.info = ModelInfo(
            path=str(folder), backend="neural-compressor", precision=quantization.get("precision", "int8"),
            parameters=sum(t.numel() for t in self.module.state_dict().values()),
            size_bytes=size_on_disk(folder) if (folder / INC_FILE).is_file() else 0, device="cpu",
        )

    def check_task(self, task: GlueTask) -> None:
        _check_labels(self.info.path, self.num_labels, task)
        self._order = label_order(self.id2label, task)

    def logits(self, batch: Batch) -> np.ndarray:
        torch = self.torch
        ids = batch["input_ids"]
        type_ids = batch.get("token_type_ids", np.zeros_like(ids))
        args = [torch.from_numpy(a) for a in (ids, batch["attention_mask"], type_ids)]
        with torch.no_grad(), torch_threads(torch, self.threads):
            out = self.module(*args)
        out = (out.logits if hasattr(out, "logits") else out[0]).float().numpy()
        return out if self._order is None else out[:, self._order]


@contextmanager
def torch_threads(torch, threads: int | None):
    """PyTorch's intra-op thread count set to ``threads`` for one call, then restored (``None``: unchanged).

    The count is process-wide; a predictor sets it around its own calls instead of for everyone.
    """
    before = torch.get_num_threads()
    if threads and threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if threads and threads != before:
            torch.set_num_threads(before)


def load_inc_int8(folder: Path):
    """Rebuild a neural-compressor INT8 classifier from ``config.json`` and ``model_int8.safetensors``.

    Raises:
        UserError: the file is missing, truncated, not this format, or does not fit the config.
    """
    from safetensors import safe_open
    from transformers import AutoConfig, AutoModelForSequenceClassification

    file = folder / INC_FILE
    try:
        with safe_open(str(file), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        if metadata.get("format") != INC_FORMAT:
            raise ValueError(f"format {metadata.get('format')!r} is not {INC_FORMAT!r}")
        layout = json.loads(metadata["layout"])
        config = AutoConfig.from_pretrained(str(folder))
        model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
        return build_inc_int8(model, tensors, layout)
    except Exception as err:
        raise UserError(f"cannot load neural-compressor INT8 model {file}: {first_line(err)}; re-create it "
                        f"with `quantize int8 --backend neural-compressor`") from None


def build_inc_int8(model, tensors: dict, layout: dict):
    """Swap the Linear layers ``layout['quantized']`` names for ``QuantizedLinear`` and load every tensor.

    Raises:
        ValueError: a tensor is missing, unexpected, or of the wrong shape.
    """
    quantized_linear = quantized_linear_class()
    for name in layout["quantized"]:
        owner, _, leaf = name.rpartition(".")
        parent = model.get_submodule(owner) if owner else model
        linear = getattr(parent, leaf)
        setattr(parent, leaf, quantized_linear(linear.in_features, linear.out_features, layout))
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as err:  # shape mismatch
        raise ValueError(first_line(err)) from None
    if missing or unexpected:
        raise ValueError(f"tensors do not fit the config (missing {sorted(missing)[:3]}, unexpected "
                         f"{sorted(unexpected)[:3]})")
    for module in model.modules():
        if isinstance(module, quantized_linear):
            module.cache_scalars()
    return model.eval()


@functools.lru_cache(maxsize=1)
def quantized_linear_class():
    """The ``QuantizedLinear`` module class (built on first use: importing this module skips torch)."""
    import torch
    import torch.ao.quantization.fx._decomposed  # noqa: F401  registers the quantized_decomposed ops

    ops = torch.ops.quantized_decomposed
    dtypes = {"uint8": torch.uint8, "int8": torch.int8}

    class QuantizedLinear(torch.nn.Module):
        """Linear with uint8 per-tensor input and int8 per-channel weights, as PT2E's convert writes it.

        Quantize-dequantize of the input, dequantize of the weight, FP32 ``linear``: the same ops
        (``quantized_decomposed``) as neural-compressor's graph, so eager results are identical and
        ``torch.compile`` (inductor, freezing) lowers each one to an int8 kernel.
        """

        def __init__(self, in_features: int, out_features: int, layout: dict):
            super().__init__()
            self.act, self.wq = layout["activation"], layout["weight"]
            self.register_buffer("weight", torch.zeros(out_features, in_features, dtype=dtypes[self.wq["dtype"]]))
            self.register_buffer("weight_scale", torch.ones(out_features))
            self.register_buffer("weight_zero_point", torch.zeros(out_features, dtype=torch.int64))
            self.register_buffer("input_scale", torch.ones(()))
            self.register_buffer("input_zero_point", torch.zeros((), dtype=torch.int64))
            self.register_buffer("bias", torch.zeros(out_features))
            self.cache_scalars()

        def cache_scalars(self) -> None:
            # per-tensor qparams as Python numbers: the form inductor's int8 patterns match
            self.x_args = (float(self.input_scale), int(self.input_zero_point), self.act["quant_min"],
                           self.act["quant_max"], dtypes[self.act["dtype"]])

        def forward(self, x):
            x = ops.dequantize_per_tensor.default(ops.quantize_per_tensor.default(x, *self.x_args), *self.x_args)
            weight = ops.dequantize_per_channel.default(
                self.weight, self.weight_scale, self.weight_zero_point, self.wq["axis"], self.wq["quant_min"],
                self.wq["quant_max"], dtypes[self.wq["dtype"]])
            return torch.nn.functional.linear(x, weight, self.bias)

    return QuantizedLinear
