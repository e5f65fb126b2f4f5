"""Test-set predictions in the files the GLUE server accepts, and the zip to upload."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np

from eval.artifacts import write_atomic
from eval.data import load_split
from eval.harness import EvalSettings, predict
from eval.metrics import predictions_from_logits
from eval.predictors import load_predictor, load_tokenizer
from eval.tasks import GlueTask

SUBMISSION_ZIP = "submission.zip"
STSB_RANGE = (0.0, 5.0)


def format_predictions(task: GlueTask, indices: list[int], logits: np.ndarray) -> str:
    """``index<TAB>prediction`` lines: label strings for classification, scores clipped to [0, 5]."""
    predictions = predictions_from_logits(task, logits)
    if task.is_regression:
        values = [f"{v:.3f}" for v in np.clip(predictions, *STSB_RANGE)]
    else:
        values = [task.tsv_labels[int(p)] for p in predictions]
    return "index\tprediction\n" + "".join(f"{i}\t{v}\n" for i, v in zip(indices, values))


def write_submission(model: str | Path, tasks: Iterable[GlueTask], output_dir: str | Path,
                     settings: EvalSettings = EvalSettings(split="test"), progress: bool = True) -> list[Path]:
    """Predict each task's test split and write ``<Task>.tsv`` files plus ``submission.zip``.

    Returns:
        The prediction files, then the zip (which holds every ``.tsv`` in ``output_dir``, so
        predictions made by earlier runs for other tasks are kept).
    """
    tasks = list(tasks)
    predictor = load_predictor(model, device=settings.device, threads=settings.threads)
    tokenizer = load_tokenizer(model)
    for task in tasks:
        predictor.check_task(task)
    folder = Path(output_dir)
    written = []
    for task in tasks:
        data = load_split(task, "test", settings.data_dir)
        out = predict(predictor, tokenizer, data, settings.batch_size, settings.max_seq_length, progress)
        written.append(write_atomic(folder / task.submission_file,
                                    format_predictions(task, data.indices, out.logits)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.glob("*.tsv")):
            archive.write(path, arcname=path.name)
    written.append(write_atomic(folder / SUBMISSION_ZIP, buffer.getvalue()))
    return written
