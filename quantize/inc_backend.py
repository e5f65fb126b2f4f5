"""The neural-compressor backend: static INT8 of a PyTorch graph (PT2E: export -> prepare ->
calibrate -> convert), stored as safetensors that ``eval.predictors`` rebuilds without unpickling."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from eval.batching import Batch
from eval.core.errors import UserError
from eval.predictors import INC_FILE, IncPredictor, build_inc_int8, save_inc_int8
from quantize.calibration import calibration_set, inc_run_fn, torch_inputs
from quantize.config import NeuralCompressorConfig
from quantize.sources import load_classifier

# Closed registry: our calibration names -> neural-compressor's activation algorithms.
INC_ALGOS = {"max": "minmax", "entropy": "kl"}


class NeuralCompressorBackend:
    """Exports the FP32 classifier once; each candidate is a fresh prepare/calibrate/convert."""

    name = "neural-compressor"

    def __init__(self, cfg: NeuralCompressorConfig, work: Path):
        self.cfg = cfg
        self.reference, self.tokenizer = load_classifier(cfg.model)
        # eager attention: SDPA's fused kernel hides the Q/K/V matmuls from the quantizer
        self.reference.model.set_attn_implementation("eager")
        self.fp32_size = self.reference.info.size_bytes
        self.batches, self.calibration = calibration_set(cfg, self.tokenizer)
        self.example = _export_example(self.batches)
        self.exported = export_for_pt2e(self.reference.model, self.example)
        self._names = linear_names(self.reference.model)

    def quantizable(self) -> list[str]:
        return self._names

    def build(self, exclude: tuple[str, ...]) -> dict[str, Any]:
        """An INT8 candidate as stored: ``{"tensors": ..., "layout": ...}`` (see :func:`int8_state`)."""
        converted = quantize_pt2e(self.exported, self.batches, self.cfg.method, exclude)
        return int8_state(converted, self.reference.model)

    def predictor(self, candidate: dict[str, Any]) -> IncPredictor:
        module = build_inc_int8(copy.deepcopy(self.reference.model), dict(candidate["tensors"]), candidate["layout"])
        return IncPredictor(Path(self.cfg.model), threads=self.cfg.threads, module=module)

    def quantized(self, candidate: dict[str, Any]) -> int:
        return len(candidate["layout"]["quantized"])

    def save(self, candidate: dict[str, Any], folder: Path) -> None:
        save_inc_int8(folder, candidate["tensors"], candidate["layout"])
        self.reference.model.config.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    def record(self) -> dict[str, Any]:
        return {"calibration": self.calibration,
                "neural_compressor": {"api": "StaticQuantConfig + prepare/convert (PT2E, X86InductorQuantizer)",
                                      "act_algo": INC_ALGOS[self.cfg.method], "w_algo": "minmax",
                                      "storage": f"{INC_FILE}: int8 weights, scales and FP32 rest (no pickle)",
                                      "note": "eager mode runs Q/DQ in FP32; torch.compile (inductor, "
                                              "freezing) lowers them to int8 kernels"}}


def export_for_pt2e(model, example: Batch):
    """``torch.export`` graph of the classifier with dynamic batch and sequence axes."""
    import torch
    from neural_compressor.torch.export import export

    batch = torch.export.Dim("batch", max=4096)
    seq = torch.export.Dim("sequence", min=2, max=model.config.max_position_embeddings)
    axes = ({0: batch, 1: seq},) * 3
    try:
        return export(model, torch_inputs(example), dynamic_shapes=axes)
    except Exception as err:
        raise UserError(f"torch.export of {type(model).__name__} failed ({str(err).splitlines()[0][:200]}); "
                        f"neural-compressor needs a standard BERT-style classifier") from None


def quantize_pt2e(exported, batches: list[Batch], method: str, exclude: tuple[str, ...] = ()):
    """Calibrate and convert a copy of ``exported``; modules named in ``exclude`` stay FP32."""
    from neural_compressor.torch.quantization import StaticQuantConfig, convert, prepare

    config = StaticQuantConfig(act_algo=INC_ALGOS[method], w_algo="minmax")
    for name in exclude:
        config.set_local(name, StaticQuantConfig(w_dtype="fp32", act_dtype="fp32"))
    prepared = prepare(_copy_exported(exported), config)
    inc_run_fn(batches)(prepared)
    return convert(prepared)


def _copy_exported(exported):
    """A fresh copy per guard attempt: ``prepare`` inserts observers in place.

    ``deepcopy`` of a GraphModule drops the plain attributes neural-compressor's ``export`` set.
    """
    clone = copy.deepcopy(exported)
    clone._exported, clone.dynamic_shapes = True, exported.dynamic_shapes
    return clone


def int8_state(converted, fp32_model) -> dict[str, Any]:
    """The tensors and layout of a converted PT2E graph, keyed like ``fp32_model``'s state dict.

    Each quantized ``linear`` node reads ``dequantize_per_tensor(quantize_per_tensor(x))`` and
    ``dequantize_per_channel(int8 weight)``; its module comes from the node's ``nn_module_stack``.
    Unfolded weights (``quantize_per_channel`` of the FP32 weight) are quantized here with the
    graph's own scales, exactly as ``convert_pt2e(fold_quantize=True)`` would fold them.
    """
    import torch

    decomposed = torch.ops.quantized_decomposed
    tensors = {k: v.detach().clone() for k, v in fp32_model.state_dict().items()}
    quantized, layout = [], {}
    for node in converted.graph.nodes:
        if node.op != "call_function" or node.target != torch.ops.aten.linear.default:
            continue
        x, w = node.args[0], node.args[1]
        if getattr(w, "target", None) != decomposed.dequantize_per_channel.default:
            continue  # kept FP32 (excluded)
        name = list(node.meta["nn_module_stack"].values())[-1][0]
        source, scale, zero_point = w.args[0], _value(converted, w.args[1]), _value(converted, w.args[2])
        if source.op == "get_attr":  # already folded to int8
            weight_q = _value(converted, source)
        else:  # quantize_per_channel(FP32 weight, scale, zero point, axis, min, max, dtype)
            weight_q = decomposed.quantize_per_channel.default(_value(converted, source.args[0]), scale,
                                                               zero_point, *source.args[3:])
        axis, w_min, w_max, w_dtype = w.args[3:7]
        x_scale, x_zero_point, x_min, x_max, x_dtype = x.args[1:6]
        layout = {"activation": {"dtype": str(x_dtype).removeprefix("torch."), "quant_min": x_min, "quant_max": x_max},
                  "weight": {"dtype": str(w_dtype).removeprefix("torch."), "quant_min": w_min, "quant_max": w_max,
                             "axis": axis}}
        tensors[f"{name}.weight"] = weight_q.to(torch.int8)
        tensors[f"{name}.weight_scale"] = scale.float()
        tensors[f"{name}.weight_zero_point"] = zero_point.long()
        tensors[f"{name}.input_scale"] = torch.tensor(float(x_scale))
        tensors[f"{name}.input_zero_point"] = torch.tensor(int(x_zero_point))
        quantized.append(name)
    return {"tensors": tensors, "layout": {**layout, "quantized": quantized}}


def _value(module, arg):
    """The tensor a graph argument names (a ``get_attr`` node)."""
    target = arg.target
    owner, _, leaf = target.rpartition(".")
    return getattr(module.get_submodule(owner) if owner else module, leaf)


def linear_names(model) -> list[str]:
    """Names of the Linear modules (what the PT2E quantizer quantizes), in model order."""
    import torch

    return [name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)]


def _export_example(batches: list[Batch]) -> Batch:
    """Two calibration examples padded together: torch.export specialises a size-1 axis to 1."""
    two = batches[:2] if len(batches) > 1 else batches * 2
    width = max(2, *(b["input_ids"].shape[1] for b in two))
    return {k: np.concatenate([np.pad(b[k], ((0, 0), (0, width - b[k].shape[1]))) for b in two])
            for k in ("input_ids", "attention_mask", "token_type_ids")}

