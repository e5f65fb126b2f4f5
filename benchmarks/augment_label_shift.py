"""How often the teacher calls augmented examples positive, next to their copied labels and dev.

TinyBERT copies each original's label to its augmented variants, but the prediction phase learns
the teacher's soft labels on them. When a variant changes the meaning (an MRPC pair that is no
longer a paraphrase), the two disagree, and the student inherits the teacher's view. This script
measures that shift on a seeded random sample of the *variants* (originals left out) of one or
more augmented sets, e.g. the same data augmented with each ``shared_words`` setting.

Run from the repository root after the GLUE study built the runs (``recipes/glue/leaderboard.yaml``):

    python -m benchmarks.augment_label_shift --task mrpc --teacher runs/glue/teacher-mrpc \\
        --augmented runs/glue/augment-mrpc --data-dir ../shared/data/glue_parquet

Writes ``benchmarks/results/augment_label_shift_<task>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.shared_data import RESULTS
from distill.augment import META, load_augmented
from eval.core.artifacts import provenance, write_json
from eval.core.console import quiet_third_party_logs
from eval.data import load_split
from eval.harness import predict
from eval.metrics import predictions_from_logits
from eval.predictors import load_predictor, load_tokenizer
from eval.tasks import get_task



def positive_rates(task, predictor, tokenizer, data, seq: int) -> dict[str, float]:
    predicted = predictions_from_logits(task, predict(predictor, tokenizer, data, 32, seq, progress=False).logits)
    labels = np.asarray(data.labels)
    return {"examples": len(labels), "label_positive_rate": float(labels.mean()),
            "teacher_positive_rate": float(np.mean(predicted)),
            "teacher_agrees_with_label": float(np.mean(predicted == labels))}


def sample(data, rows: list[int], size: int):
    """A seeded random subset of ``rows`` of ``data``."""
    return data.subset(sorted(np.random.default_rng(0).choice(rows, min(size, len(rows)), replace=False).tolist()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="mrpc")
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--augmented", required=True, nargs="+", help="`distill augment` output folders")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--max-seq-length", type=int, default=128)
    args = parser.parse_args(argv)
    quiet_third_party_logs()
    task = get_task(args.task)
    teacher = (load_predictor(args.teacher, device="cpu"), load_tokenizer(args.teacher))  # loaded once
    train, dev = load_split(task, "train", args.data_dir), load_split(task, "dev", args.data_dir)
    # augmented TSVs hold whitespace-collapsed texts; an augmented row equal to a train row is an original
    originals = {tuple(" ".join(t.split()) for t in texts) for texts in train.texts}
    result = {"task": task.name, "teacher": args.teacher,
              "train_originals": positive_rates(task, *teacher, sample(train, list(range(len(train))), args.sample),
                                                args.max_seq_length),
              "dev": positive_rates(task, *teacher, dev, args.max_seq_length), "augmented": {}}
    for folder in args.augmented:
        augmented = load_augmented(folder, task)
        variants = [i for i, texts in enumerate(augmented.texts) if texts not in originals]
        config = json.loads((Path(folder) / META).read_text())["config"]
        result["augmented"][folder] = {
            "settings": {"replace_prob": config["replace_prob"], "variants": config["variants"],
                         "shared_words": config.get("shared_words", "free")},  # older folders: free
            "variants": len(variants),
            "variants_sample": positive_rates(task, *teacher, sample(augmented, variants, args.sample),
                                              args.max_seq_length)}
        print(folder, result["augmented"][folder], flush=True)
    result.update(provenance())
    write_json(RESULTS / f"augment_label_shift_{task.name}.json", result)
    print({k: result[k] for k in ("train_originals", "dev")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
