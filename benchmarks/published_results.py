"""The published tables: teacher, label-only student, distilled students and INT8 models side by side.

Run from the repository root after ``benchmarks/distill_glue.py`` has filled ``runs/``:

    python benchmarks/published_results.py            # SST-2 and MRPC
    python benchmarks/published_results.py --tasks mrpc

For each task it quantizes the general+task-distilled student and the teacher to ONNX INT8
(static, max calibration on 300 training examples, as ``quantize int8 --calib TASK`` does; folders
``runs/int8-<model>`` are reused when present), scores every model on the full dev set through the
GLUE harness, and times a full pass over that dev set (length-sorted batches of 32, 2 threads)
for every model in interleaved rounds, so a neighbour's burst slows all of them alike; the median
round gives examples/s and the speed-up over the PyTorch FP32 teacher.

Writes ``benchmarks/results/published_results.json`` and ``.md`` and one chart per task,
``docs/results_<task>.svg`` (dev metric against throughput).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from eval.artifacts import provenance, write_atomic, write_json
from eval.console import quiet_third_party_logs
from eval.data import load_split
from eval.harness import predict
from eval.metrics import compute_metrics, predictions_from_logits
from eval.predictors import load_predictor, load_tokenizer
from eval.report import scatter_svg
from eval.tasks import get_task
from quantize import api
from quantize.config import Int8Config

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs"
TASKS = {"sst2": (DATA / "glue_data", 64), "mrpc": (DATA / "glue_parquet", 128)}  # data, max_seq_length
# (label, short label for the chart, run folder, INT8 copy of that run?)
MODELS = (("teacher: MiniLM-L6-H384, fine-tuned (PyTorch FP32)", "teacher", "teacher-{task}", False),
          ("teacher, ONNX INT8 static max", "teacher INT8", "teacher-{task}", True),
          ("tiny, label-only fine-tuning (PyTorch FP32)", "label-only", "baseline-tiny-{task}", False),
          ("tiny, task distillation only (PyTorch FP32)", "task KD", "taskonly-tiny-{task}", False),
          ("tiny, general + task distillation (PyTorch FP32)", "general+task KD", "full-tiny-{task}", False),
          ("tiny, general + task distillation, ONNX INT8 static max", "general+task KD INT8", "full-tiny-{task}",
           True),
          # MRPC only (skipped where the run does not exist): augmentation with shared words tied
          ("tiny, general + task distillation, shared words tied in augmentation (PyTorch FP32)", "KD, tied",
           "full-tiny-{task}-tie", False),
          ("tiny, general + task distillation, shared words tied in augmentation, ONNX INT8 static max",
           "KD, tied INT8", "full-tiny-{task}-tie", True))
THREADS, BATCH = 2, 32


def model_folder(runs: Path, run: str, int8: bool, task: str, data_dir: Path, seq: int) -> Path:
    """The run folder, or its INT8 ONNX copy (built on first use)."""
    source = runs / run
    if not int8:
        return source
    target = runs / f"int8-{run}"
    if not (target / "quantization.json").is_file():
        api.int8(Int8Config(model=str(source), output_dir=str(target), calib=task, data_dir=str(data_dir),
                            max_seq_length=seq, threads=THREADS))
    return target


def measure_task(task_name: str, runs: Path, rounds: int) -> dict:
    task = get_task(task_name)
    data_dir, seq = TASKS[task_name]
    dev = load_split(task, "dev", str(data_dir))
    models = {}
    for label, short, run, int8 in MODELS:
        if not (runs / run.format(task=task_name)).is_dir():
            continue
        folder = model_folder(runs, run.format(task=task_name), int8, task_name, data_dir, seq)
        predictor = load_predictor(folder, device="cpu", threads=THREADS)
        predictor.check_task(task)
        models[label] = {"short": short, "folder": str(folder), "predictor": predictor,
                         "tokenizer": load_tokenizer(folder), "seconds": []}
    for _ in range(rounds):  # interleaved: every model once per round
        for entry in models.values():
            out = predict(entry["predictor"], entry["tokenizer"], dev, BATCH, seq, progress=False)
            entry["seconds"].append(out.seconds)
            entry["logits"] = out.logits  # the same every round
    for entry in models.values():
        entry["metrics"] = compute_metrics(task, predictions_from_logits(task, entry["logits"]), dev.labels)
    teacher = next(iter(models.values()))
    teacher_seconds = statistics.median(teacher["seconds"])
    rows = {}
    for label, entry in models.items():
        seconds = statistics.median(entry["seconds"])
        info = entry["predictor"].info
        rows[label] = {
            "short": entry["short"], "model": entry["folder"], "backend": info.backend, "precision": info.precision,
            "metrics": entry["metrics"],
            "retention_of_teacher": {k: v / teacher["metrics"][k] for k, v in entry["metrics"].items()
                                     if teacher["metrics"].get(k)},
            "parameters": info.parameters, "size_bytes": info.size_bytes,
            "examples_per_second": len(dev) / seconds, "seconds_per_pass": entry["seconds"],
            "speedup_vs_teacher": teacher_seconds / seconds,
        }
    return {"task": task_name, "main_metric": task.main_metric, "dev_examples": len(dev), "data_dir": str(data_dir),
            "max_seq_length": seq, "batch_size": BATCH, "threads": THREADS, "rounds": rounds, "rows": rows}


def render(results: dict) -> str:
    lines = []
    for name, table in results["tasks"].items():
        metrics = list(next(iter(table["rows"].values()))["metrics"])
        lines += [f"### {get_task(name).display_name} (dev, {table['dev_examples']} examples)", "",
                  "| model | " + " | ".join(metrics) + " | retention | params | MB | ex/s | speed-up |",
                  "|---" * (len(metrics) + 6) + "|"]
        for label, row in table["rows"].items():
            main = table["main_metric"]
            lines.append(f"| {label} | " + " | ".join(f"{100 * row['metrics'][m]:.2f}" for m in metrics)
                         + f" | {row['retention_of_teacher'][main]:.1%} | {row['parameters'] / 1e6:.1f}M"
                         f" | {row['size_bytes'] / 1e6:.1f} | {row['examples_per_second']:.0f}"
                         f" | {row['speedup_vs_teacher']:.1f}x |")
        lines.append("")
    return "\n".join(lines)


def chart(table: dict) -> str:
    main = table["main_metric"]
    points = [(row["short"], row["examples_per_second"], 100 * row["metrics"][main]) for row in table["rows"].values()]
    return scatter_svg(points, x_label="dev examples/s, 2 CPU threads (log scale)",
                       y_label=f"{get_task(table['task']).display_name} dev {main}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--rounds", type=int, default=5, help="timed dev passes per model (median reported)")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="the runs folder of distill_glue.py")
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    quiet_third_party_logs()
    results = {"tasks": {task: measure_task(task, args.runs, args.rounds) for task in args.tasks}, **provenance()}
    write_json(RESULTS / "published_results.json", results)
    write_atomic(RESULTS / "published_results.md", render(results))
    for task, table in results["tasks"].items():
        write_atomic(DOCS / f"results_{task}.svg", chart(table) + "\n")
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
