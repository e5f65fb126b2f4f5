"""What every part of the distillation speed benchmark shares: its settings, files and small helpers."""

from __future__ import annotations

import os

from benchmarks.shared_data import RESULTS, ROOT

RESULT = RESULTS / "distill_speed.json"
PAGE = ROOT / "docs" / "speed.md"
WORK = ROOT / "benchmarks" / "work" / "distill_speed"
BATCH, LENGTH, LR, SEED = 32, 64, 3e-4, 42
INTERMEDIATE = {"embedding": 1.0, "hidden": 1.0, "attention": 1.0}


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def epochs(steps: int, examples: int) -> float:
    return steps / (examples // BATCH)


def dev_predictions(predictor, tokenizer, data_dir: str) -> dict:
    """SST-2 dev predictions and labels through the GLUE harness, for the paired test between systems."""
    from eval.harness import EvalSettings, evaluate_task
    from eval.tasks import get_task

    settings = EvalSettings(split="dev", batch_size=64, max_seq_length=LENGTH, data_dir=data_dir, device="cpu")
    scored = evaluate_task(predictor, tokenizer, get_task("sst2"), settings, progress=False)
    return {"accuracy": scored["metrics"]["accuracy"], "predictions": scored["predictions"],
            "labels": scored["labels"]}
