"""Trivial floors: what a task's dev set scores without learning anything from text.

Every model on a board should be read against these rows:

- ``majority``: the most frequent training label for every example (classification), or the
  mean training score (regression: a constant, so its correlations are undefined and reported 0);
- ``word overlap`` (pair tasks): the Jaccard overlap of the two texts' lower-cased word sets.
  For regression the overlap itself is the prediction (correlations do not care about scale);
  for classification a threshold on it is fitted on the training split, the one that maximises
  the task's selection score (the mean of its metrics), the label above it chosen on train too;
  with more than two labels, the training overlaps are cut into quantile bins, each predicting
  its majority label.

Nothing is fitted on the split that is scored. Floors are written as ordinary results documents
(backend ``rule``), so ``glue report`` shows them as rows and can test a model against them.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Callable, Iterable

import numpy as np

from eval.core.artifacts import provenance
from eval.data import GlueData, load_split
from eval.core.errors import UserError
from eval.harness import RESULTS_SCHEMA, RESULTS_VERSION, EvalSettings
from eval.metrics import score, selection_score
from eval.tasks import Task, task_metadata

_WORD = re.compile(r"\w+")
BINS = 10  # overlap bins for pair tasks with more than two labels


def word_overlap(texts: tuple[str, ...]) -> float:
    """Jaccard overlap of two texts' lower-cased word sets (0 when both are empty)."""
    first, second = ({w.lower() for w in _WORD.findall(t)} for t in texts[:2])
    union = first | second
    return len(first & second) / len(union) if union else 0.0


def _majority(task: Task, train: GlueData) -> Callable[[GlueData], np.ndarray]:
    if task.is_regression:
        mean = float(np.mean(train.labels))
        return lambda data: np.full(len(data), mean, dtype=np.float32)
    label = Counter(int(y) for y in train.labels).most_common(1)[0][0]
    return lambda data: np.full(len(data), label, dtype=np.int64)


def _overlap(task: Task, train: GlueData) -> Callable[[GlueData], np.ndarray]:
    def overlaps(data: GlueData) -> np.ndarray:
        return np.array([word_overlap(t) for t in data.texts], dtype=np.float32)

    if task.is_regression:
        return overlaps
    x, y = overlaps(train), np.asarray(train.labels, dtype=np.int64)
    if task.num_labels == 2:
        best = max(((selection_score(task, score(task, np.where(x > cut, above, 1 - above), y).values), cut, above)
                    for cut in np.unique(x) for above in (0, 1)), key=lambda found: found[:1])
        _, cut, above = best
        return lambda data: np.where(overlaps(data) > cut, above, 1 - above).astype(np.int64)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, BINS + 1)[1:-1]))
    bins = np.digitize(x, edges)
    fallback = Counter(y.tolist()).most_common(1)[0][0]
    labels = np.array([Counter(y[bins == b].tolist()).most_common(1)[0][0] if (bins == b).any() else fallback
                       for b in range(len(edges) + 1)])
    return lambda data: labels[np.digitize(overlaps(data), edges)]


# name -> (what it is, whether it applies to a task, how it is fitted on train)
FLOORS: dict[str, tuple[str, Callable[[Task], bool], Callable[[Task, GlueData], Callable[[GlueData], np.ndarray]]]] = {
    "majority": ("the most frequent training label (regression: the mean training score) for every example",
                 lambda task: True, _majority),
    "word-overlap": ("Jaccard overlap of the two texts' word sets (classification: a threshold fitted on train)",
                     lambda task: len(task.text_columns) == 2, _overlap),
}


def floor_documents(tasks: Iterable[Task], settings: EvalSettings = EvalSettings()) -> dict[str, dict[str, Any]]:
    """One results document per floor that applies to any of ``tasks`` (name -> document).

    Raises:
        UserError: a task whose train or scored split has no labels.
    """
    documents: dict[str, dict[str, Any]] = {}
    for task in tasks:
        train = load_split(task, "train", settings.data_dir)
        scored = load_split(task, settings.split, settings.data_dir)
        if train.labels is None or scored.labels is None:
            raise UserError(f"{task.display_name}: floors need labels in the train and {settings.split} splits")
        full = len(scored)
        if settings.limit:
            scored = scored.select(settings.limit)
        for name, (summary, applies, fit) in FLOORS.items():
            if not applies(task):
                continue
            predictions = fit(task, train)(scored)
            scores = score(task, predictions, scored.labels)
            as_list = (lambda v: [round(float(p), 6) for p in v]) if task.is_regression else (
                lambda v: [int(p) for p in v])
            document = documents.setdefault(name, {
                "schema": RESULTS_SCHEMA, "schema_version": RESULTS_VERSION,
                "model": {"name": f"floor-{name}", "path": None, "backend": "rule", "precision": "none",
                          "parameters": 0, "size_bytes": 0, "device": "cpu", "floor": summary},
                "settings": {**settings.__dict__}, "results": {}, **provenance()})
            document["results"][task.name] = {
                "task": task.name, "split": settings.split, "num_examples": len(scored), "num_examples_full": full,
                "metrics": scores.values, "main_metric": task.main_metric, "undefined_metrics": list(scores.undefined),
                "data_source": scored.source, "throughput": {"seconds": 0.0}, "task_info": task_metadata(task),
                "predictions": as_list(predictions), "labels": as_list(scored.labels)}
    return documents
