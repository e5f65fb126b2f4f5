"""ONNX export and INT8 post-training quantization of GLUE classifiers, behind one driver.

    quantize export --model DIR --output-dir OUT
    quantize int8 --model DIR --calib mrpc --data-dir ../shared/data/glue_parquet --max-drop 1.0 --output-dir OUT
    quantize int8 --recipe recipes/quantize/static_max_smooth.yaml --model DIR --output-dir OUT

Modules: ``config`` (one frozen config per backend), ``driver`` (FP32 score, probe, guard, size,
latency, quantization.json), ``outputs`` (atomic output folders), ``ort_backend`` (onnxruntime
static/dynamic INT8), ``inc_backend`` (neural-compressor PT2E, stored as safetensors),
``smooth`` (SmoothQuant on ONNX graphs), ``onnx_export`` (torch -> ONNX + parity), ``sources``
(opening the FP32 model), ``calibration``, ``guard``, ``measure``, ``api`` and ``cli``. Output
folders load in ``glue eval`` like any model folder. docs/quantization.md has the measurements.

From Python, :func:`int8` (``from quantize import int8``) runs ``quantize int8``; importing this
package is cheap and prints nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import eval as _quiet  # noqa: F401  (eval/__init__.py quiets torchao and torch notices before torch loads)

__all__ = ["int8"]

# The modules other code may build on; the backends, the guard and the graph passes are internal.
PUBLIC_MODULES = ("quantize", "quantize.api", "quantize.config", "quantize.measure")


def int8(config: Any = None, /, **settings: Any) -> dict[str, Any]:
    """INT8 post-training quantization of a classifier folder, calibrated on a task, checked on its dev split.

    Args:
        config: an :class:`quantize.config.Int8Config`, a recipe YAML file (``recipes/quantize/*.yaml``)
            or a mapping (optional).
        **settings: config fields on top of it, as ``quantize int8 --help`` lists them: ``model``,
            ``output_dir``, ``calib`` (a GLUE name or a task spec; default: the task the model was trained on),
            ``data_dir``, ``backend``, ``max_drop``, ``allow_fallback``, ...
    Returns:
        The ``quantization.json`` record written beside the INT8 model in ``output_dir``.
    Raises:
        eval.UserError: bad settings (all at once), a model that cannot be quantized, no ``calib`` for a model
            whose task its folder does not record, or a guard that kept most nodes FP32 to meet ``max_drop``.
    """
    from eval.core.config import to_dict
    from eval.core.console import quiet_third_party_logs
    from quantize.api import int8 as run_int8
    from quantize.config import load_int8_config

    quiet_third_party_logs()
    recipe = config if isinstance(config, (str, Path)) else None
    data = {} if recipe is not None or config is None else dict(config) if isinstance(config, dict) else to_dict(config)
    data.update({key: str(value) if isinstance(value, Path) else value for key, value in settings.items()})
    return run_int8(load_int8_config(recipe, flags=data))
