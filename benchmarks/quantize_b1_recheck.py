"""Batch-1 latency of the ONNX variants alone (no PyTorch threads in the process), round-robin.

Run after benchmarks/quantize_int8.py built runs/bench-quantize-<task>/:
    python benchmarks/quantize_b1_recheck.py sst2 mrpc
Writes benchmarks/results/quantize_b1_recheck.json.
"""

import os
import sys
from pathlib import Path

from eval.artifacts import provenance, write_json
from eval.predictors import OnnxPredictor
from quantize.measure import latency_batch, measure_interleaved

VARIANTS = ("onnx-fp32", "onnx-int8-static-max", "onnx-int8-static-max-guard", "onnx-int8-dynamic")


def main(tasks: list[str]) -> None:
    out = {"threads": 2, "shape": [1, 128], "rounds": 15, "block": 3, "results": {}}
    for task in tasks:
        root = Path(f"runs/bench-quantize-{task}")
        models = {n: OnnxPredictor(root / n, threads=2).logits for n in VARIANTS if (root / n).is_dir()}
        timing = measure_interleaved(models, latency_batch(root / "onnx-fp32", 1, 128), rounds=15, block=3)
        base = timing["onnx-fp32"]["median_ms"]
        out["results"][task] = {"load_average": os.getloadavg(),
                                **{n: {**t, "speedup_vs_onnx_fp32": base / t["median_ms"]} for n, t in timing.items()}}
        print(task, {n: f"{t['median_ms']:.1f} ms ({base / t['median_ms']:.2f}x)" for n, t in timing.items()})
    write_json(Path(__file__).resolve().parent / "results" / "quantize_b1_recheck.json", {**out, **provenance()})


if __name__ == "__main__":
    main(sys.argv[1:] or ["sst2", "mrpc"])
