"""A held-out slice of a task's training split, as a task spec: tune on it, report dev once.

Choosing a learning rate, an epoch count or a loss by the dev score and then reporting that dev
score overstates it, the more so the smaller the dev set (MRPC: 408 pairs, RTE: 277).
:func:`write_holdout` cuts a seeded random slice off a task's train split and writes the rest
(``train.jsonl``) and the slice (``validation.jsonl``) beside a task spec (``task.yaml``). Every
command takes that spec where it takes ``--task``, so a recipe tunes on the slice with the
toolkit's usual commands and the task's real dev split stays untouched until the final report.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eval.core.artifacts import write_atomic
from eval.core.config import dump_yaml
from eval.data import load_split
from eval.core.errors import UserError
from eval.tasks import Task

SPEC_FILE = "task.yaml"


def write_holdout(task: Task, output_dir: str | Path, size: int, seed: int = 0, data_dir: str | None = None) -> Path:
    """Write ``task``'s train split as a task spec whose validation split is ``size`` held-out examples.

    Returns:
        The task spec file.

    Raises:
        UserError: ``size`` leaves fewer than ``size`` examples to train on.
    """
    data = load_split(task, "train", data_dir)
    if data.labels is None:
        raise UserError(f"{task.display_name} train split has no labels to hold out")
    if not 1 <= size <= len(data) // 2:
        raise UserError(f"--size {size}: hold out between 1 and half of the {len(data)} training examples")
    order = np.random.default_rng(seed).permutation(len(data))
    held = sorted(order[:size].tolist())
    kept = sorted(order[size:].tolist())
    out = Path(output_dir)
    columns = [f"text{i + 1}" for i in range(len(task.text_columns))]

    def rows(positions: list[int]) -> str:
        label = (lambda y: float(y)) if task.is_regression else (lambda y: task.label_names[int(y)])
        return "".join(json.dumps({**dict(zip(columns, data.texts[p])), "label": label(data.labels[p]),
                                   "idx": data.indices[p]}) + "\n" for p in positions)

    write_atomic(out / "train.jsonl", rows(kept))
    write_atomic(out / "validation.jsonl", rows(held))
    spec = {"name": f"{task.name}-holdout", "display_name": f"{task.display_name} (held-out train)",
            "data_files": {"train": "train.jsonl", "validation": "validation.jsonl"},
            "text_columns": columns, "label_column": "label", "id_column": "idx",
            **({"regression": True} if task.is_regression else {"label_names": list(task.label_names)}),
            "metrics": list(task.metrics), "main_metric": task.main_metric,
            # what the task's own spec allows of its data holds for its slices too
            **({"allow_empty_text": True} if getattr(task, "allow_empty_text", False) else {}),
            **({"label_range": list(task.label_range)} if getattr(task, "label_range", None) else {})}
    header = (f"# {task.display_name} train split ({data.source}) with {size} examples held out (seed {seed}) as the\n"
              f"# validation split: tune here, report the real dev split once. Written by `glue holdout`.\n")
    return write_atomic(out / SPEC_FILE, header + dump_yaml(spec))
