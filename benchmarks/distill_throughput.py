"""Training throughput of the `tiny` student: plain fine-tuning vs general and task distillation, in one run.

Run from the repository root after `python benchmarks/distill_glue.py --only teacher-sst2`:

    OMP_NUM_THREADS=1 python benchmarks/distill_throughput.py [--steps 40] [--device cpu]

Every stage trains the same student shape with the same batch size and sequence length for the
same number of optimizer steps, through the same loop; the numbers are the loop's own
(training time only: no evaluation, no checkpoint writing, no data loading before the loop).
Writes ``benchmarks/results/distill_throughput.json``. On a shared CPU the load average at the
time is recorded beside the figures: compare stages within one run, not across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
WORK = ROOT / "benchmarks" / "work" / "throughput"
RESULT = ROOT / "benchmarks" / "results" / "distill_throughput.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--teacher", default="runs/teacher-sst2", help="fine-tuned SST-2 teacher folder")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    from distill import api
    from distill.config import load_recipe
    from eval.core.artifacts import provenance
    from eval.core.console import quiet_third_party_logs

    quiet_third_party_logs()
    shutil.rmtree(WORK, ignore_errors=True)
    train = [f"train.max_steps={args.steps}", f"train.batch_size={args.batch_size}", "train.eval_every=100000",
             f"train.max_seq_length={args.max_seq_length}", f"train.device={args.device}", "train.train_limit=4000",
             "train.eval_limit=32", "train.save_every=100000", "train.log_every=10"]
    glue = str(DATA / "glue_data")
    runs = {
        "finetune (labels only)": ("finetune", {"model": "tiny", "tokenizer": "minilm-l6", "task": "sst2",
                                                "data_dir": glue}, []),
        "general distillation": ("general", {"teacher": "minilm-l6", "student": "tiny", "corpus": str(
            DATA / "corpus" / "wikipedia-vital-articles-en" / "summaries_en-us.txt")}, []),
        "task distillation": ("task", {"task": "sst2", "teacher": args.teacher, "student": "tiny", "data_dir": glue},
                              [f"phases=[{{name: intermediate, losses: {{embedding: 1, hidden: 1, attention: 1}}, "
                               f"epochs: 100}}, {{name: prediction, losses: {{logits: 1}}, epochs: 100}}]"]),
    }
    entry = {"finetune": api.finetune, "general": api.general_distill, "task": api.task_distill}
    results = {}
    for name, (command, flags, extra) in runs.items():
        out = WORK / command
        cfg = load_recipe(command, flags={**flags, "output_dir": str(out)}, overrides=train + extra)
        entry[command](cfg)
        metrics = json.loads((out / "metrics.json").read_text())
        if command == "task":
            for phase, summary in metrics["phases"].items():
                results[f"task distillation, {phase} phase"] = {
                    **summary["throughput"], **({"teacher_logits_seconds": summary["teacher_logits_seconds"]}
                                                if "teacher_logits_seconds" in summary else {})}
        else:
            results[name] = metrics["throughput"]
        print(f"{name}: {json.dumps(results.get(name) or metrics['phases'])[:200]}", flush=True)
    document = {"schema": "bert-compression-toolkit/distill-throughput", "schema_version": 1,
                "student": "tiny", "teacher": args.teacher, "task": "sst2", "steps_per_stage": args.steps,
                "batch_size": args.batch_size, "max_seq_length": args.max_seq_length,
                "notes": ("general distillation packs full max_seq_length sequences; GLUE stages pad each batch to "
                          "its longest example. The prediction phase reads teacher logits cached by one teacher pass "
                          "over the training examples before the loop (teacher_logits_seconds, not in its throughput)."),
                "load_average_1m_5m_15m": os.getloadavg(), "threads": os.environ.get("OMP_NUM_THREADS"),
                "results": results, **provenance()}
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(document, indent=2) + "\n")
    for name, numbers in results.items():
        print(f"{name:45s} {numbers['examples_per_second']:9.1f} ex/s {numbers['tokens_per_second']:10.0f} tok/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
