"""How much faster is each student size? Inference latency side by side, from BERT-base's shape down to `tiny`.

    python -m benchmarks.size_speed        # after the GLUE study's CoLA seed-42 rows; one thread

The models are those of the GLUE study (``recipes/glue/leaderboard.yaml``): the MiniLM-L6 teacher,
the distilled `mini` and `tiny` students and their INT8 copies, plus a classifier of BERT-base's
shape (L12/H768, random weights: latency depends on the shape, not on the weights; BERT-base's
weights are not here). Every model of one runtime is timed round-robin on the same synthetic full
batches (``quantize.measure.measure_interleaved``), so a neighbour's load slows them alike; PyTorch
and ONNX Runtime are timed apart (their thread pools disturb each other). The figure to compare
is the median CPU time of a call on one thread, which time spent preempted does not inflate.
Writes ``benchmarks/results/size_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.shared_data import RESULTS, ROOT
from eval.artifacts import provenance, write_json
from eval.predictors import TorchPredictor, load_predictor
from quantize.measure import measure_interleaved, synthetic_batch

RUN = ROOT / "runs" / "glue"
MODELS = {  # label -> folder; "bert-base-shape" is built in memory
    "teacher (MiniLM-L6)": RUN / "teacher-cola",
    "mini distilled": RUN / "mini-cola-distilled-s42",
    "tiny distilled": RUN / "tiny-cola-distilled-s42",
    "mini distilled INT8": RUN / "mini-cola-distilled-s42-int8",
    "tiny distilled INT8": RUN / "tiny-cola-distilled-s42-int8",
}
BERT_BASE = "BERT-base shape (random weights)"
SHAPES = ((1, 128), (32, 128))


def bert_base_shape() -> TorchPredictor:
    from transformers import BertConfig, BertForSequenceClassification

    return TorchPredictor.from_module(BertForSequenceClassification(BertConfig(num_labels=2)).eval())


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS / "size_speed.json")
    args = parser.parse_args(argv)
    missing = [str(folder) for folder in MODELS.values() if not folder.is_dir()]
    if missing:
        print(f"missing {', '.join(missing)}; run the GLUE study's CoLA seed-42 rows first "
              f"(pipeline run recipes/glue/leaderboard.yaml --only 'eval-*-cola-distilled-s42*')")
        return 1
    torch.set_num_threads(1)
    predictors = {BERT_BASE: bert_base_shape(), **{name: load_predictor(folder, device="cpu", threads=1)
                                                    for name, folder in MODELS.items()}}
    runtimes = {}
    for name, predictor in predictors.items():
        runtimes.setdefault(predictor.info.backend, {})[name] = predictor
    models = {name: {"backend": p.info.backend, "precision": p.info.precision, "parameters": p.info.parameters,
                     "size_bytes": p.info.size_bytes or None} for name, p in predictors.items()}
    latency: dict[str, dict] = {}
    for batch_size, seq_len in SHAPES:
        shape = f"{batch_size}x{seq_len}"
        batch = synthetic_batch(batch_size, seq_len, vocab_size=30522)
        for backend, group in runtimes.items():
            start = time.perf_counter()
            timed = measure_interleaved({n: p.logits for n, p in group.items()}, batch, rounds=args.rounds)
            for name, result in timed.items():
                latency.setdefault(name, {})[shape] = result
            print(f"{backend}, batch {shape}: {time.perf_counter() - start:.0f} s")
    speedups = {name: {shape: {reference: latency[reference][shape]["cpu_median_ms"] / latency[name][shape]["cpu_median_ms"]
                               for reference in (BERT_BASE, "teacher (MiniLM-L6)")}
                       for shape in latency[name]} for name in predictors}
    report = {"threads": 1, "shapes": [f"{b}x{s}" for b, s in SHAPES], "rounds": args.rounds, "models": models,
              "latency": latency, "speedup_cpu_time": speedups, "provenance": provenance(),
              "note": "median CPU time of one call on one thread (time preempted by other jobs not counted); "
                      "PyTorch models timed round-robin together, ONNX Runtime models together; "
                      "BERT-base: its shape with random weights (speed only)"}
    write_json(args.output, report)
    print(render(report))
    return 0


def render(report: dict) -> str:
    """A Markdown table: CPU ms per call for each shape, and how many times faster than BERT-base's shape."""
    shapes = report["shapes"]
    lines = ["| model | params | size (MB) | " + " | ".join(f"CPU ms, batch {s}" for s in shapes)
             + " | " + " | ".join(f"x BERT-base, {s}" for s in shapes) + " |",
             "|---|---:|---:|" + "---:|" * (2 * len(shapes))]
    for name, model in report["models"].items():
        size = f"{model['size_bytes'] / 1e6:.1f}" if model["size_bytes"] else "–"
        cells = [f"{report['latency'][name][s]['cpu_median_ms']:.1f}" for s in shapes]
        ratios = [f"{report['speedup_cpu_time'][name][s][BERT_BASE]:.1f}" for s in shapes]
        lines.append(f"| {name} ({model['backend']}, {model['precision']}) | {model['parameters'] / 1e6:.1f}M | {size} | "
                     + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
