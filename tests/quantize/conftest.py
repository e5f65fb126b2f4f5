"""Fixtures for the quantize tests: INT8 folders built once per session from the tiny classifier."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from quantize.config import int8_config_from_dict


def tiny_int8_config(model: Path, out: Path, data_dir: Path, **changes):
    """Calibrate on 8 SST-2 rows of the 16-row fixture; score on its 16-row dev split."""
    settings = {"calib": "sst2", "calib_size": 8, "data_dir": str(data_dir), "max_seq_length": 64, **changes}
    return int8_config_from_dict({"model": str(model), "output_dir": str(out), **settings})


@pytest.fixture(scope="session")
def onnx_fp32(tmp_path_factory, tiny_classifier) -> Path:
    from quantize import api

    out = tmp_path_factory.mktemp("onnx") / "fp32"
    api.export(tiny_classifier, out)
    return out


@pytest.fixture(scope="session")
def onnx_int8(tmp_path_factory, tiny_classifier, glue_tsv) -> Path:
    from quantize import api

    out = tmp_path_factory.mktemp("onnx") / "int8"
    api.int8(tiny_int8_config(tiny_classifier, out, glue_tsv))
    return out


def quantized_weight_consumers(path: Path) -> list[tuple[str, str]]:
    """``(op_type, name)`` of nodes fed by a DequantizeLinear of an 8-bit weight, or QLinear ops.

    A fused ``MatMulIntegerToFloat`` reading an 8-bit weight counts as a MatMul.
    """
    graph = onnx.load(str(path)).graph
    int8_weights = {t.name for t in graph.initializer if t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)}
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in int8_weights}
    fused = [("MatMul", n.name) for n in graph.node if n.op_type == "MatMulIntegerToFloat" and n.input[1] in int8_weights]
    return fused + [(n.op_type, n.name) for n in graph.node
                    if any(i in dequantized for i in n.input) or n.op_type in ("QLinearMatMul", "MatMulInteger", "QGemm")]
