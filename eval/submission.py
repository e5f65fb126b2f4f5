"""Test-set predictions: the files the GLUE server accepts plus the zip to upload, and CSV or JSONL for task specs.

A GLUE task writes ``<Task>.tsv`` (``index<TAB>prediction``). A task spec's task writes
``<name>.csv`` or ``<name>.jsonl`` with one row per example: ``id`` (the spec's ``id_column``, else
the row number from 1), ``label`` (the predicted class name) and ``score`` (its probability), then
every class's probability (CSV columns ``prob_<name>``, a JSONL ``probabilities`` object). A
regression task writes ``id`` and ``score`` (the predicted value).

Every test split is loaded and predicted before the first file is written, so bad input writes
nothing. ``submission.zip`` holds exactly the GLUE files this run wrote, taken from memory: never
an older file of the folder, never what a link points to.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from eval.core.artifacts import write_atomic
from eval.data import GlueData, load_split
from eval.core.errors import UserError
from eval.harness import EvalSettings, predict
from eval.metrics import predictions_from_logits
from eval.core.outputs import check_output_path
from eval.predictors import load_predictor, load_tokenizer
from eval.tasks import GlueTask, Task

SUBMISSION_ZIP = "submission.zip"
STSB_RANGE = (0.0, 5.0)
PREDICTION_FORMATS = ("csv", "jsonl")


def format_predictions(task: GlueTask, indices: list[int], logits: np.ndarray) -> str:
    """``index<TAB>prediction`` lines: label strings for classification, scores clipped to [0, 5]."""
    predictions = predictions_from_logits(task, logits)
    if task.is_regression:
        values = [f"{v:.3f}" for v in np.clip(predictions, *STSB_RANGE)]
    else:
        values = [task.tsv_labels[int(p)] for p in predictions]
    return "index\tprediction\n" + "".join(f"{i}\t{v}\n" for i, v in zip(indices, values))


def prediction_rows(task: Task, indices: list[Any], logits: np.ndarray) -> list[dict[str, Any]]:
    """One record per example: id, predicted label and its probability, and every class's probability."""
    if task.is_regression:
        return [{"id": i, "score": round(float(v), 6)} for i, v in zip(indices, predictions_from_logits(task, logits))]
    logits = np.asarray(logits, dtype=np.float64)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    rows = []
    for i, p in zip(indices, probabilities):
        best = int(p.argmax())
        rows.append({"id": i, "label": task.label_names[best], "score": round(float(p[best]), 6),
                     "probabilities": {name: round(float(v), 6) for name, v in zip(task.label_names, p)}})
    return rows


def format_rows(rows: list[dict[str, Any]], fmt: str) -> str:
    """Records as JSON Lines, or as CSV with one ``prob_<name>`` column per class."""
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    flat = [{**{k: v for k, v in row.items() if k != "probabilities"},
             **{f"prob_{name}": v for name, v in row.get("probabilities", {}).items()}} for row in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(flat[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return buffer.getvalue()


def write_submission(model: str | Path, tasks: Iterable[Task], output_dir: str | Path,
                     settings: EvalSettings = EvalSettings(split="test"), progress: bool = True,
                     prediction_format: str = "csv") -> list[Path]:
    """Predict each task's test split; write the prediction files, and ``submission.zip`` for GLUE tasks.

    Args:
        prediction_format: ``csv`` or ``jsonl``, for task specs' prediction files.

    Returns:
        The prediction files, then the zip when GLUE tasks were predicted.

    Raises:
        UserError: bad output folder, format, model or data; nothing is written then.
    """
    if prediction_format not in PREDICTION_FORMATS:
        raise UserError(f"unknown prediction format {prediction_format!r}; choose {' or '.join(PREDICTION_FORMATS)}")
    folder = check_output_path(output_dir, folder=True, flag="--output-dir")
    tasks = list(tasks)
    predictor = load_predictor(model, device=settings.device, threads=settings.threads,
                               allow_unfinished=settings.allow_unfinished)
    tokenizer = load_tokenizer(model)
    for task in tasks:
        predictor.check_task(task)
    splits = [load_split(task, "test", settings.data_dir) for task in tasks]  # every input checked first
    files: dict[str, str] = {}
    for data in splits:
        out = predict(predictor, tokenizer, data, settings.batch_size, settings.max_seq_length, progress)
        files.update([_prediction_file(data, out.logits, prediction_format)])
    written = [write_atomic(folder / name, text) for name, text in files.items()]
    server_files = {t.submission_file: files[t.submission_file] for t in tasks if t.is_glue}
    if server_files:
        written.append(write_atomic(folder / SUBMISSION_ZIP, _zip(server_files)))
    return written


def _prediction_file(data: GlueData, logits: np.ndarray, fmt: str) -> tuple[str, str]:
    task = data.task
    if task.is_glue:
        return task.submission_file, format_predictions(task, data.indices, logits)
    return f"{task.name}.{fmt}", format_rows(prediction_rows(task, data.indices, logits), fmt)


def _zip(files: dict[str, str]) -> bytes:
    """A zip of in-memory files (names in order), so nothing outside this run can get in."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(name, files[name])
    return buffer.getvalue()
