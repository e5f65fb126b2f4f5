"""Graph rewrites that make a static (QDQ) INT8 graph run as fast as ONNX Runtime can run it.

ONNX Runtime turns ``DequantizeLinear -> MatMul`` pairs of a QDQ graph into ``MatMulIntegerToFloat``
kernels when it loads the model, but leaves the bias ``Add`` that follows each MatMul as a separate
op: one more pass over every activation (measured, docs/quantization.md: 26 Adds against the
dynamic graph's 8, where ``quantize_dynamic``'s pattern fuses the bias). :func:`fuse_int8_matmuls`
writes the kernel ONNX Runtime would pick, ``com.microsoft.MatMulIntegerToFloat``, with the bias as
its last input, straight into the file. Same arithmetic as the QDQ pattern (8-bit operands, FP32
accumulation of scales and bias), so predictions do not change; the calibrated ``QuantizeLinear``
of each activation stays, shared by the MatMuls that read the same tensor (Q, K and V).
"""

from __future__ import annotations

from pathlib import Path

MS_DOMAIN = "com.microsoft"


def fuse_int8_matmuls(path: Path) -> int:
    """Rewrite ``DQ(x_q) x DQ(W_q) [+ bias]`` into ``MatMulIntegerToFloat`` in place; returns how many.

    Only MatMuls whose second operand dequantizes a constant weight (per tensor, or per output
    column) are rewritten; anything else is left as the quantizer wrote it.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    constants = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    graph_outputs = {o.name for o in graph.output}

    replaced: dict[int, object] = {}  # id(MatMul) -> fused node
    absorbed: set[int] = set()  # bias Adds folded into a fused node
    for matmul in graph.node:
        if matmul.op_type != "MatMul":
            continue
        a, b = producer.get(matmul.input[0]), producer.get(matmul.input[1])
        if not (_dequantize(a) and _dequantize(b) and b.input[0] in constants and _per_column(b, constants)
                and _per_tensor(a, constants) and _has_kernel(a, constants[b.input[0]], constants)):
            continue
        columns = constants[b.input[0]].dims[-1]
        bias_add = _bias_add(matmul, readers, constants, graph_outputs, columns, numpy_helper)
        inputs = [a.input[0], b.input[0], a.input[1], b.input[1], _at(a.input, 2), _at(b.input, 2)]
        if bias_add is not None:
            inputs.append(next(i for i in bias_add.input if i != matmul.output[0]))
            absorbed.add(id(bias_add))
        output = bias_add.output[0] if bias_add is not None else matmul.output[0]
        replaced[id(matmul)] = helper.make_node("MatMulIntegerToFloat", inputs, [output], name=matmul.name,
                                                domain=MS_DOMAIN)
    if not replaced:
        return 0
    nodes = [replaced.get(id(n), n) for n in graph.node if id(n) not in absorbed]
    read = {name for node in nodes for name in node.input} | graph_outputs
    nodes = [n for n in nodes if n.op_type != "DequantizeLinear" or n.output[0] in read]
    del graph.node[:]
    graph.node.extend(nodes)
    read = {name for node in nodes for name in node.input}
    kept = [t for t in graph.initializer if t.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    if not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    onnx.save(model, str(path))
    return len(replaced)


def _dequantize(node) -> bool:
    return node is not None and node.op_type == "DequantizeLinear"


def _at(names, index: int) -> str:
    return names[index] if len(names) > index else ""


def _per_tensor(dequantize, constants) -> bool:
    """An activation quantized with one scale (and zero point) given as constants: what the kernel takes for A."""
    from onnx import numpy_helper

    return all(name in constants and numpy_helper.to_array(constants[name]).size == 1
               for name in dequantize.input[1:3] if name)


def _has_kernel(activation, weight, constants) -> bool:
    """ONNX Runtime's CPU kernel multiplies u8 x u8, u8 x s8 and s8 x s8, not s8 activations by u8 weights."""
    from onnx import TensorProto

    zero_point = constants.get(_at(activation.input, 2))
    signed_activation = zero_point is not None and zero_point.data_type == TensorProto.INT8
    return not (signed_activation and weight.data_type == TensorProto.UINT8)


def _per_column(dequantize, constants) -> bool:
    """A weight scale MatMulIntegerToFloat accepts: one value, or one per column (axis 1 of a [K, N] weight)."""
    from onnx import numpy_helper

    scale = constants.get(dequantize.input[1])
    if scale is None:
        return False
    if numpy_helper.to_array(scale).size == 1:
        return True
    axis = next((attr.i for attr in dequantize.attribute if attr.name == "axis"), 1)
    weight = constants[dequantize.input[0]]
    return len(weight.dims) == 2 and axis in (1, -1)


def _bias_add(matmul, readers, constants, graph_outputs, columns: int, numpy_helper):
    """The ``Add`` of a constant float32 bias of one value per output column that alone reads the
    MatMul's output, else ``None`` (a broadcast bias of another shape stays a separate Add)."""
    from onnx import TensorProto

    out = matmul.output[0]
    users = readers.get(out, [])
    if out in graph_outputs or len(users) != 1 or users[0].op_type != "Add":
        return None
    add = users[0]
    other = add.input[1] if add.input[0] == out else add.input[0]
    bias = constants.get(other)
    if bias is None or bias.data_type != TensorProto.FLOAT or list(bias.dims) != [columns]:
        return None
    return add
