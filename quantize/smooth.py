"""SmoothQuant on an ONNX graph: divide activation outliers out, multiply them into the weights.

Xiao et al. 2023 (SmoothQuant, eq. 4): for a MatMul ``X @ W`` with per-input-channel activation
range ``max|X_j|`` and weight range ``max|W_j.|``, the scale ``s_j = max|X_j|^a / max|W_j.|^(1-a)``
gives ``(X / s) @ (diag(s) W)``, the same product, with activations that min-max calibration can
quantize without a few outlier channels stretching the range for all the others.

BERT is post-LayerNorm: a LayerNorm's output is also the residual stream, so the division cannot
be folded into the LayerNorm as in pre-LN models. It becomes one FP32 ``Mul`` per MatMul input
(shared by Q, K and V), placed before the quantizer's QuantizeLinear.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eval.batching import Batch

_SCALE_LIMIT = 1e4  # s is clipped to [1/limit, limit]: a dead channel must not become inf


def smooth_onnx(path: Path, batches: list[Batch], alpha: float, out: Path) -> tuple[Path, dict]:
    """Write a smoothed copy of ``path``; return it and a record of what was scaled.

    Args:
        path: an FP32 graph (after ``quant_pre_process``).
        batches: calibration batches (the ones static quantization calibrates on).
        alpha: migration strength in (0, 1]; 0.5 balances activation and weight ranges.
        out: the file to write.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    groups: dict[str, list] = {}  # activation tensor -> the weight MatMuls that read it
    for node in graph.node:
        weight = weights.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is not None and len(weight.dims) == 2 and uses[node.input[1]] == 1 and node.input[0] not in weights:
            groups.setdefault(node.input[0], []).append(node)
    ranges = activation_ranges(model, list(groups), batches)
    scales = {}
    for tensor, nodes in groups.items():
        arrays = [numpy_helper.to_array(weights[n.input[1]]) for n in nodes]
        weight_range = np.max([np.abs(a).max(axis=1) for a in arrays], axis=0)
        scale = ranges[tensor] ** alpha / np.maximum(weight_range, 1e-8) ** (1 - alpha)
        scale = np.clip(np.where(ranges[tensor] > 0, scale, 1.0), 1 / _SCALE_LIMIT, _SCALE_LIMIT).astype(np.float32)
        for node, array in zip(nodes, arrays):
            weights[node.input[1]].CopyFrom(numpy_helper.from_array((array * scale[:, None]).astype(np.float32),
                                                                    node.input[1]))
            node.input[0] = f"{tensor}/smoothed"
        graph.initializer.append(numpy_helper.from_array(1 / scale, f"{tensor}/smooth_scale"))
        scales[tensor] = scale
    nodes, placed = [], set()
    for node in graph.node:
        for name in node.input:
            if name.endswith("/smoothed") and name not in placed:
                source = name.removesuffix("/smoothed")
                nodes.append(helper.make_node("Mul", [source, f"{source}/smooth_scale"], [name], name=f"{source}/smooth"))
                placed.add(name)
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(out))
    all_scales = np.concatenate(list(scales.values())) if scales else np.ones(1)
    return out, {"alpha": alpha, "inputs_smoothed": len(groups),
                 "matmuls_smoothed": sum(len(n) for n in groups.values()),
                 "scale_min": float(all_scales.min()), "scale_max": float(all_scales.max())}


def activation_ranges(model, tensors: list[str], batches: list[Batch]) -> dict[str, np.ndarray]:
    """Per-channel ``max |x|`` (last axis) of the named tensors over the calibration batches."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in tensors)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name for i in session.get_inputs()}
    ranges: dict[str, np.ndarray] = {}
    for batch in batches:
        outputs = session.run(tensors, {k: v for k, v in batch.items() if k in feeds})
        for name, value in zip(tensors, outputs):
            channel_max = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
            ranges[name] = np.maximum(ranges.get(name, channel_max), channel_max)
    return ranges
