"""How often the teacher calls augmented examples positive, next to their copied labels and dev.

TinyBERT copies each original's label to its augmented variants, but the prediction phase learns
the teacher's soft labels on them. When a variant changes the meaning (an MRPC pair that is no
longer a paraphrase), the two disagree, and the student inherits the teacher's view. This script
measures that shift on a seeded random sample of an augmented set.

Run from the repository root after ``benchmarks/distill_glue.py`` built the runs:

    python benchmarks/augment_label_shift.py --task mrpc --teacher runs/teacher-mrpc \\
        --augmented runs/mrpc-augmented --data-dir ../shared/data/glue_parquet

Writes ``benchmarks/results/augment_label_shift_<task>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from distill.augment import load_augmented
from eval.artifacts import provenance, write_json
from eval.console import quiet_third_party_logs
from eval.data import load_split
from eval.harness import predict
from eval.metrics import predictions_from_logits
from eval.predictors import load_predictor, load_tokenizer
from eval.tasks import get_task

RESULTS = Path(__file__).resolve().parent / "results"


def positive_rates(task, predictor, tokenizer, data, seq: int) -> dict[str, float]:
    predicted = predictions_from_logits(task, predict(predictor, tokenizer, data, 32, seq, progress=False).logits)
    labels = np.asarray(data.labels)
    return {"examples": len(labels), "label_positive_rate": float(labels.mean()),
            "teacher_positive_rate": float(np.mean(predicted)),
            "teacher_agrees_with_label": float(np.mean(predicted == labels))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="mrpc")
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--augmented", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--max-seq-length", type=int, default=128)
    args = parser.parse_args(argv)
    quiet_third_party_logs()
    task = get_task(args.task)
    augmented = load_augmented(args.augmented, task)
    rows = sorted(np.random.default_rng(0).choice(len(augmented), min(args.sample, len(augmented)),
                                                  replace=False).tolist())
    sample = dataclasses.replace(augmented, texts=[augmented.texts[i] for i in rows],
                                 labels=[augmented.labels[i] for i in rows])
    teacher = (load_predictor(args.teacher, device="cpu"), load_tokenizer(args.teacher))  # loaded once
    dev = load_split(task, "dev", args.data_dir)
    result = {"task": task.name, "teacher": args.teacher, "augmented": args.augmented,
              "augmented_sample": positive_rates(task, *teacher, sample, args.max_seq_length),
              "dev": positive_rates(task, *teacher, dev, args.max_seq_length),
              **provenance()}
    write_json(RESULTS / f"augment_label_shift_{task.name}.json", result)
    print({k: result[k] for k in ("augmented_sample", "dev")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
