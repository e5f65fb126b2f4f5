"""Static INT8 in PyTorch with neural-compressor 3.x (PT2E: export -> prepare -> calibrate -> convert)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from eval.artifacts import provenance
from eval.batching import Batch
from eval.predictors import INC_FILE, IncPredictor, TorchPredictor, load_tokenizer, size_on_disk
from eval.tasks import get_task
from quantize.calibration import calibration_set, inc_run_fn, torch_inputs
from quantize.config import Int8Config, config_dict
from quantize.guard import guard_groups, run_guard
from quantize.measure import latency_batch, latency_record, measure_interleaved, score, snr_probe

# Closed registry: our calibration names -> neural-compressor's activation algorithms.
INC_ALGOS = {"max": "minmax", "entropy": "kl"}


def export_for_pt2e(model, example: Batch):
    """``torch.export`` graph of the classifier with dynamic batch and sequence axes."""
    import torch
    from neural_compressor.torch.export import export

    batch = torch.export.Dim("batch", max=4096)
    seq = torch.export.Dim("sequence", min=2, max=model.config.max_position_embeddings)
    axes = ({0: batch, 1: seq},) * 3
    return export(model, torch_inputs(example), dynamic_shapes=axes)


def quantize_pt2e(exported, batches: list[Batch], method: str, exclude: tuple[str, ...] = ()):
    """Calibrate and convert a copy of ``exported``; modules named in ``exclude`` stay FP32.

    Weights are stored as int8: neural-compressor 3.10's ``convert`` drops its ``fold_quantize``
    argument on the way to torchao's ``convert_pt2e``, so the same folding pass is run here.
    """
    from neural_compressor.torch.quantization import StaticQuantConfig, convert, prepare

    config = StaticQuantConfig(act_algo=INC_ALGOS[method], w_algo="minmax")
    for name in exclude:
        config.set_local(name, StaticQuantConfig(w_dtype="fp32", act_dtype="fp32"))
    prepared = prepare(_copy_exported(exported), config)
    inc_run_fn(batches)(prepared)
    return _fold_weight_quantization(convert(prepared))


def _copy_exported(exported):
    """A fresh copy per guard attempt: ``prepare`` inserts observers in place.

    ``deepcopy`` of a GraphModule drops the plain attributes neural-compressor's ``export`` set.
    """
    clone = copy.deepcopy(exported)
    clone._exported, clone.dynamic_shapes = True, exported.dynamic_shapes
    return clone


def _fold_weight_quantization(model):
    """Precompute quantize(weight) into int8 constants, as ``convert_pt2e(fold_quantize=True)`` does."""
    from torchao.quantization.pt2e.constant_fold import constant_fold
    from torchao.quantization.pt2e.quantize_pt2e import _quant_node_constraint

    constant_fold(model, _quant_node_constraint)
    _drop_unused_tensors(model)
    model.recompile()
    return model


def _drop_unused_tensors(model) -> None:
    """Delete the FP32 weights that folding replaced; otherwise the archive saves them too."""
    used = {node.target for node in model.graph.nodes if node.op == "get_attr"}
    for name, _ in [*model.named_parameters(), *model.named_buffers()]:
        if name not in used:
            owner, _, leaf = name.rpartition(".")
            delattr(model.get_submodule(owner) if owner else model, leaf)


def linear_names(model) -> list[str]:
    """Names of the Linear modules (what the PT2E quantizer quantizes), in model order."""
    import torch

    return [name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)]


def int8_torch(cfg: Int8Config, work: Path, out: Path) -> dict[str, Any]:
    """The neural-compressor backend of :func:`quantize.api.int8`: writes ``quantized_weight.pt``."""
    fp32 = TorchPredictor(cfg.model, device="cpu")
    tokenizer = load_tokenizer(cfg.model)
    # eager attention: SDPA's fused kernel hides the Q/K/V matmuls from the quantizer
    fp32.model.set_attn_implementation("eager")
    batches, calib = calibration_set(cfg, tokenizer)
    example = _export_example(batches)
    exported = export_for_pt2e(fp32.model, example)
    fp32.model.config.save_pretrained(out)
    tokenizer.save_pretrained(out)

    def build(exclude: tuple[str, ...]):
        module = quantize_pt2e(exported, batches, cfg.method, exclude)
        return IncPredictor(out, threads=cfg.threads, module=module)

    task = get_task(cfg.task_for_eval)
    fp32_metric = score(fp32, tokenizer, cfg)
    names = linear_names(fp32.model)
    groups = guard_groups(names, cfg.exclude, cfg.granularity)
    probe = snr_probe(fp32, tokenizer, cfg) if cfg.max_drop is not None else None
    guard = run_guard(groups, build, lambda p: score(p, tokenizer, cfg), fp32_metric, cfg.max_drop,
                      base=tuple(cfg.exclude), probe=probe)
    guard.model.module.save(example_inputs=torch_inputs(example), output_dir=str(work / "inc"))
    shutil.copy(work / "inc" / INC_FILE, out / INC_FILE)
    shutil.copy(work / "inc" / "qconfig.json", out / "inc_qconfig.json")
    fp32_size = size_on_disk(Path(cfg.model)) if Path(cfg.model).is_dir() else 0
    int8_size = size_on_disk(out / INC_FILE)
    shape = latency_batch(out)
    latency = measure_interleaved({"fp32": fp32.logits, "int8": IncPredictor(out, cfg.threads).logits}, shape)
    return {
        "precision": "int8",
        "backend": "neural-compressor",
        "method": cfg.method,
        "mode": "static",
        "source_model": cfg.model,
        "calibration": calib,
        "neural_compressor": {"api": "StaticQuantConfig + prepare/convert (PT2E, X86InductorQuantizer)",
                              "act_algo": INC_ALGOS[cfg.method], "w_algo": "minmax",
                              "int8_weights": "torchao constant_fold of weight quantize ops",
                              "note": "eager PT2E graphs run Q/DQ in FP32; torch.compile lowers them to int8 kernels"},
        "quantized_nodes": len(names) - len(guard.excluded_nodes),
        **guard.record(cfg.max_drop, task),
        "size_bytes": {"fp32": fp32_size, "int8": int8_size, "ratio": fp32_size / int8_size if fp32_size else None},
        "latency": latency_record(latency, cfg.threads, compiled=False),
        "config": config_dict(cfg),
        **provenance(),
    }


def _export_example(batches: list[Batch]) -> Batch:
    """Two calibration examples padded together: torch.export specialises a size-1 axis to 1."""
    two = batches[:2] if len(batches) > 1 else batches * 2
    width = max(2, *(b["input_ids"].shape[1] for b in two))
    return {k: np.concatenate([np.pad(b[k], ((0, 0), (0, width - b[k].shape[1]))) for b in two])
            for k in ("input_ids", "attention_mask", "token_type_ids")}
