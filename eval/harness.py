"""Score a predictor on task splits (GLUE or task specs) and build the results document (lm-eval style).

Results document, schema version 2: ``results`` maps each task name to its split, example counts,
``metrics``, ``main_metric``, ``undefined_metrics`` (correlations reported as 0.0 because a side
was constant; see :mod:`eval.metrics`), ``throughput`` and ``task_info``: the task's display name,
metrics, main metric, ``is_glue`` and ``score_group`` (whether and how it counts towards the GLUE
Score), label names and the spec file of a custom task (:func:`eval.tasks.task_metadata`), so a
report can show any task without reading its spec.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from tqdm.auto import tqdm

from eval.core.artifacts import provenance
from eval.batching import encode, length_sorted_batches
from eval.data import GlueData, load_split
from eval.core.errors import UserError
from eval.metrics import predictions_from_logits, score
from eval.predictors import Predictor, load_predictor, load_tokenizer
from eval.tasks import Task, task_metadata

RESULTS_SCHEMA = "bert-compression-toolkit/glue-results"
RESULTS_VERSION = 2
MIN_SEQ_LENGTH = 8  # [CLS], [SEP] and a few tokens: anything shorter scores truncated noise
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class EvalSettings:
    """How to score: split, batching, data location, limits and device; validated at construction.

    Raises:
        UserError: a value out of range (batch size, sequence length, limit and threads at least
            1, 8, 1, 1) or a device other than ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    """

    split: str = "dev"
    batch_size: int = 32
    max_seq_length: int = 128
    data_dir: str | None = None
    limit: int | None = None  # score only the first N examples (smoke runs)
    device: str = "auto"
    threads: int | None = None
    allow_unfinished: bool = False  # score an unfinished training run's best-so-far weights

    def __post_init__(self):
        for name, least in (("batch_size", 1), ("max_seq_length", MIN_SEQ_LENGTH), ("limit", 1), ("threads", 1)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
                flag = "--" + name.replace("_", "-")
                raise UserError(f"{name.replace('_', ' ')} {value!r} is out of range: {flag} must be an "
                                f"integer of at least {least}")
        if not isinstance(self.device, str) or not DEVICE.fullmatch(self.device):
            raise UserError(f"unknown device {self.device!r}; pass --device auto, cpu, cuda or cuda:N")


@dataclass(frozen=True)
class Predictions:
    logits: np.ndarray  # [examples, num_labels], in the split's order
    seconds: float  # model time only: no tokenization, no data loading
    tokens: int  # real (non-padding) tokens seen

    def throughput(self) -> dict[str, float]:
        examples = len(self.logits)
        return {"examples_per_second": examples / self.seconds, "tokens_per_second": self.tokens / self.seconds,
                "seconds": self.seconds}


def predict(predictor: Predictor, tokenizer, data: GlueData, batch_size: int, max_seq_length: int,
            progress: bool = True) -> Predictions:
    """Run a predictor over a split in length-sorted batches and return logits in split order.

    Raises:
        UserError: an example is longer than the model's positions (``max_seq_length`` too large
            for it), or the model gave NaN or infinite outputs.
    """
    encoded = encode(tokenizer, data, max_seq_length)
    limit, longest = position_limit(predictor, tokenizer), int(encoded.lengths.max())
    if limit is not None and longest > limit:
        raise UserError(f"{data.task.name} has examples of {longest} tokens but the model takes at most {limit} "
                        f"positions; pass --max-seq-length {limit} or less")
    logits: np.ndarray | None = None
    seconds = 0.0
    bar = tqdm(total=len(data), desc=f"{data.task.name}/{data.split}", unit="ex", disable=not progress,
               leave=False)
    for rows, batch in length_sorted_batches(encoded, batch_size):
        start = time.perf_counter()
        out = predictor.logits(batch)
        seconds += time.perf_counter() - start
        if logits is None:
            logits = np.zeros((len(data), out.shape[-1]), dtype=np.float32)
        logits[rows] = out
        bar.update(len(rows))
    bar.close()
    assert logits is not None  # load_split never returns an empty split
    broken = int((~np.isfinite(logits).all(axis=1)).sum())
    if broken:
        raise UserError(f"the model gave NaN or infinite outputs for {broken} of {len(data)} {data.task.name} "
                        f"examples; its weights are broken (a diverged run?): retrain it or take an earlier checkpoint")
    return Predictions(logits, seconds, int(encoded.lengths.sum()))


def position_limit(predictor: Predictor, tokenizer) -> int | None:
    """The most tokens a model takes: its position embeddings, else the limit its tokenizer records."""
    config = getattr(predictor, "config", None)  # PyTorch predictors carry the model config
    limit = getattr(config, "max_position_embeddings", None) or getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else None  # tokenizers say 1e30 for "none"


def evaluate_task(predictor: Predictor, tokenizer, task: Task, settings: EvalSettings,
                  progress: bool = True, data: GlueData | None = None) -> dict[str, Any]:
    """Score one task split; returns the per-task entry of a results document.

    ``data``: the split already read (a caller scoring many models on it); ``None`` reads it.
    """
    data = data if data is not None else load_split(task, settings.split, settings.data_dir)
    if data.labels is None:
        raise UserError(f"{task.display_name} {settings.split} has no labels to score; "
                        f"use `glue predict` for test-set submissions")
    full_size = len(data)
    if settings.limit:
        data = data.select(settings.limit)
    predictor.check_task(task)
    out = predict(predictor, tokenizer, data, settings.batch_size, settings.max_seq_length, progress)
    predictions = predictions_from_logits(task, out.logits)
    scores = score(task, predictions, data.labels)
    # Per-example predictions and labels let a report test one model against another (eval.stats).
    as_list = (lambda v: [round(float(x), 6) for x in v]) if task.is_regression else (lambda v: [int(x) for x in v])
    return {
        "task": task.name,
        "split": settings.split,
        "num_examples": len(data),
        "num_examples_full": full_size,
        "metrics": scores.values,
        "main_metric": task.main_metric,
        "undefined_metrics": list(scores.undefined),
        "data_source": data.source,
        "throughput": out.throughput(),
        "task_info": task_metadata(task),
        "predictions": as_list(predictions),
        "labels": as_list(data.labels),
    }


def evaluate_model(model: str | Path, tasks: Iterable[Task], settings: EvalSettings = EvalSettings(),
                   progress: bool = True, name: str | None = None) -> dict[str, Any]:
    """Load a model once and score it on several tasks; returns the full results document.

    ``name`` is the model's row in reports (default: its folder name); results of several seeds
    of one configuration share a name and are reported as mean ± std.
    """
    tasks = list(tasks)
    predictor = load_predictor(model, device=settings.device, threads=settings.threads,
                               allow_unfinished=settings.allow_unfinished)
    tokenizer = load_tokenizer(model)
    for task in tasks:  # fail before any work when a task does not fit the model
        predictor.check_task(task)
    results = {task.name: evaluate_task(predictor, tokenizer, task, settings, progress) for task in tasks}
    return {
        "schema": RESULTS_SCHEMA,
        "schema_version": RESULTS_VERSION,
        "model": {"name": name or model_name(model), **predictor.info.as_dict()},
        "settings": asdict(settings),
        "results": results,
        **provenance(),
    }


def model_name(model: str | Path) -> str:
    """A short display name: the folder name, or ``parent/name`` for nested run folders."""
    path = Path(model)
    if not path.exists():
        return str(model)  # a Hub id
    path = path.resolve()
    return path.name if path.suffix != ".onnx" else f"{path.parent.name}/{path.name}"
