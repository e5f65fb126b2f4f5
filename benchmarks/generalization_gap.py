"""Train/dev gap: how much of what a model learned carries over from its training examples to dev.

A student that scores well on the examples it trained on but not on dev has memorised them. For
each model this prints and records the task metric on a seeded random sample of the train split
and on the dev split, and, with ``--teacher``, how closely it follows the teacher on each
(Pearson correlation of the predictions for a regression task, the rate of equal predicted classes
for a classification task). A student distilled well follows its teacher on dev about as closely
as on train.

Run from the repository root after the GLUE study built the runs (``recipes/glue/leaderboard.yaml``):

    python -m benchmarks.generalization_gap --task stsb --data-dir ../shared/data/glue_data \\
        --teacher runs/glue/teacher-stsb --model distilled=runs/glue/tiny-stsb-distilled-s42 \\
        --model scratch=runs/glue/tiny-stsb-scratch-s42

Writes ``benchmarks/results/generalization_gap_<task>.json`` (``--output`` for another file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from benchmarks.shared_data import RESULTS
from eval.core.artifacts import provenance, write_json
from eval.core.console import quiet_third_party_logs
from eval.data import load_split
from eval.core.errors import UserError
from eval.harness import predict
from eval.metrics import predictions_from_logits, score
from eval.predictors import load_predictor, load_tokenizer
from eval.tasks import get_task


def named_model(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, path


def predictions(model: str, task, splits: dict, args) -> dict[str, np.ndarray]:
    """The model's predictions on each split (loaded once)."""
    predictor, tokenizer = load_predictor(model, device="cpu", threads=args.threads), load_tokenizer(model)
    return {split: predictions_from_logits(task, predict(predictor, tokenizer, data, args.batch_size,
                                                          args.max_seq_length, progress=False).logits)
            for split, data in splits.items()}


def follows(task, predicted: np.ndarray, teacher: np.ndarray) -> float:
    """How closely a model follows the teacher: Pearson r (regression) or agreement rate (classes)."""
    if task.is_regression:
        return float(np.corrcoef(predicted, teacher)[0, 1])
    return float(np.mean(predicted == teacher))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--data-dir", required=True, help="local GLUE root (either layout)")
    parser.add_argument("--model", type=named_model, action="append", required=True, metavar="NAME=PATH",
                        help="a model to measure (repeatable)")
    parser.add_argument("--teacher", help="the teacher the students learned from (its row is measured too)")
    parser.add_argument("--train-sample", type=int, default=1500, help="train examples to score (seeded sample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    quiet_third_party_logs()
    task = get_task(args.task)
    train, dev = load_split(task, "train", args.data_dir), load_split(task, "dev", args.data_dir)
    if args.train_sample < len(train):
        rows = np.random.default_rng(args.seed).choice(len(train), args.train_sample, replace=False)
        train = train.subset(sorted(rows.tolist()))
    splits = {"train": train, "dev": dev}
    models = dict(args.model)
    if args.teacher:
        if "teacher" in models:
            raise UserError("--model teacher=... clashes with --teacher; name that model otherwise")
        models = {"teacher": args.teacher, **models}
    found = {name: predictions(path, task, splits, args) for name, path in models.items()}
    rows = {}
    for name, by_split in found.items():
        rows[name] = {"model": models[name]}
        for split, predicted in by_split.items():
            entry = {"metrics": score(task, predicted, splits[split].labels).values}
            if args.teacher and name != "teacher":
                entry["follows_teacher"] = follows(task, predicted, found["teacher"][split])
            rows[name][split] = entry
    result = {"task": task.name, "main_metric": task.main_metric, "train_examples": len(train),
              "dev_examples": len(dev), "train_sample_seed": args.seed,
              "follows_teacher": ("Pearson r with the teacher's predictions" if task.is_regression
                                  else "rate of the teacher's predicted class"),
              "models": rows, **provenance()}
    write_json(args.output or RESULTS / f"generalization_gap_{task.name}.json", result)
    metric = task.main_metric
    print(f"{'model':<24} {'train ' + metric:>16} {'dev ' + metric:>14} {'follows (train)':>16} {'(dev)':>8}")
    for name, row in rows.items():
        cells = [f"{100 * row[s]['metrics'][metric]:.1f}" for s in ("train", "dev")]
        cells += [f"{row[s]['follows_teacher']:.3f}" if "follows_teacher" in row[s] else "-" for s in ("train", "dev")]
        print(f"{name:<24} {cells[0]:>16} {cells[1]:>14} {cells[2]:>16} {cells[3]:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
