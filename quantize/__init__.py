"""ONNX export and INT8 post-training quantization (max calibration) of GLUE classifiers.

    quantize export --model DIR --output-dir OUT
    quantize int8 --model DIR --calib mrpc --data-dir ../shared/data/glue_parquet --max-drop 1.0 --output-dir OUT

Modules: ``config`` (Int8Config), ``calibration`` (GLUE examples -> ORT reader / INC run_fn),
``onnx_export`` (torch -> ONNX + parity), ``onnx_int8`` (onnxruntime static/dynamic INT8),
``torch_int8`` (neural-compressor PT2E), ``guard`` (accuracy guard), ``measure`` (dev metric,
SNR, latency), ``api`` and ``cli``. Output folders load in ``glue eval`` like any model folder.
"""
