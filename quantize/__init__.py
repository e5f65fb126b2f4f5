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
"""
