"""How much faster is each student size? Inference latency side by side, from BERT-base's shape down to `tiny`.

    python -m benchmarks.size_speed        # every size's shape, built in memory; one thread
    python -m benchmarks.size_speed --model "tiny distilled INT8=runs/glue-v2/tiny-cola-distilled-s42-int8"

PyTorch models are built in memory, because latency depends on the shape, not on the weights: a
classifier of BERT-base's shape (L12/H768; its weights are not here), the packaged MiniLM-L6 teacher
with a 2-label head, students cut from it (``teacher:3``, ``teacher:2``: its layers, distill/cut.py)
and the `medium`, `small`, `mini` and `tiny` presets. ``--model LABEL=FOLDER`` adds model folders, e.g. the INT8
copies (ONNX Runtime) of the study's students. Every model of one runtime is timed round-robin on the same synthetic full
batches (``quantize.measure.measure_interleaved``), so a neighbour's load slows them alike; PyTorch
and ONNX Runtime are timed apart (their thread pools disturb each other). The figure to compare
is the median CPU time of a call on one thread, which time spent preempted does not inflate.
Writes ``benchmarks/results/size_speed.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.shared_data import RESULTS
from eval.core.artifacts import provenance, write_json
from eval.predictors import TorchPredictor, load_predictor
from quantize.measure import measure_interleaved, synthetic_batch

BERT_BASE = "BERT-base shape (random weights)"
TEACHER = "teacher (MiniLM-L6)"
SHAPES = ((1, 128), (32, 128))


def in_memory() -> dict[str, TorchPredictor]:
    """Every size's shape as a 2-label classifier: BERT-base's, the teacher, its cuts, the presets."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from distill.cut import cut_model
    from distill.students import get_student
    from distill.teachers import resolve_model

    torch.manual_seed(0)
    teacher = BertForSequenceClassification.from_pretrained(resolve_model("minilm-l6"), num_labels=2).eval()
    models = {BERT_BASE: BertForSequenceClassification(BertConfig(num_labels=2)), TEACHER: teacher,
              "teacher:3 (cut, L3/H384)": cut_model(teacher, 3), "teacher:2 (cut, L2/H384)": cut_model(teacher, 2)}
    for size in ("medium", "small", "mini", "tiny"):
        spec = get_student(size)
        models[f"{size} (L{spec.layers}/H{spec.hidden})"] = BertForSequenceClassification(
            spec.bert_config(teacher.config, num_labels=2))
    return {name: TorchPredictor.from_module(model.eval()) for name, model in models.items()}


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", action="append", default=[], metavar="LABEL=FOLDER",
                        help="a model folder to time beside the shapes (e.g. an INT8 copy); repeatable")
    parser.add_argument("--output", type=Path, default=RESULTS / "size_speed.json")
    args = parser.parse_args(argv)
    folders = dict(item.split("=", 1) for item in args.model)
    missing = [folder for folder in folders.values() if not Path(folder).exists()]
    if missing or any("=" not in item for item in args.model):
        print(f"--model takes LABEL=FOLDER of an existing folder; missing: {', '.join(missing)}")
        return 2
    torch.set_num_threads(1)
    predictors = {**in_memory(), **{name: load_predictor(folder, device="cpu", threads=1)
                                    for name, folder in folders.items()}}
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
                               for reference in (BERT_BASE, TEACHER)}
                       for shape in latency[name]} for name in predictors}
    report = {"threads": 1, "shapes": [f"{b}x{s}" for b, s in SHAPES], "rounds": args.rounds, "models": models,
              "latency": latency, "speedup_cpu_time": speedups, "provenance": provenance(),
              "note": "median CPU time of one call on one thread (time preempted by other jobs not counted); "
                      "PyTorch models timed round-robin together, ONNX Runtime models together; PyTorch models "
                      "built in memory (BERT-base's shape and the presets with random weights: speed only)"}
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
