"""Turn model outputs into task metrics, from one closed registry of metric functions.

The registry holds every metric a task (GLUE or a task spec) may ask for, what kind of task it
fits, and its function. GLUE's six keep the names and values of Hugging Face's GLUE metric; the
offline ``evaluate`` module in :mod:`eval.glue_metric` computes through the same functions.

An undefined value is never NaN. A correlation (Pearson, Spearman, Matthews) is undefined when
the predictions or the labels are all the same value, e.g. a collapsed model that predicts one
class: it is reported as 0.0 (no measurable relationship, sklearn's convention for Matthews) and
named in :attr:`Scores.undefined`, which the harness writes into the results file as
``undefined_metrics``. F1 with no positive prediction and no positive label is 0.0 likewise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Literal, Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)

MetricFunction = Callable[[np.ndarray, np.ndarray], float]  # (predictions, references) -> value


@dataclass(frozen=True)
class Metric:
    """One metric of the registry.

    Attributes:
        kind: the tasks it fits: ``classification`` (class ids) or ``regression`` (scores).
        binary: only for two-class tasks (binary F1 scores class 1 as the positive class).
        correlation: undefined when either side is constant (reported as 0.0, see above).
        function: ``(predictions, references) -> value``; both are 1-D numpy arrays.
    """

    kind: Literal["classification", "regression"]
    function: MetricFunction
    binary: bool = False
    correlation: bool = False


def _accuracy(predictions: np.ndarray, references: np.ndarray) -> float:
    return float(sum(int(a == b) for a, b in zip(predictions, references)) / len(references))


def _f1(predictions: np.ndarray, references: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true=references, y_pred=predictions, zero_division=0.0))


def _f1_macro(predictions: np.ndarray, references: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    # the mean over the classes present in the labels or the predictions, each weighted equally
    return float(f1_score(y_true=references, y_pred=predictions, average="macro", zero_division=0.0))


def _matthews(predictions: np.ndarray, references: np.ndarray) -> float:
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(references, predictions))


def _pearson(predictions: np.ndarray, references: np.ndarray) -> float:
    from scipy.stats import pearsonr

    return float(pearsonr(predictions, references)[0])


def _spearman(predictions: np.ndarray, references: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(predictions, references)[0])


METRICS: Mapping[str, Metric] = MappingProxyType({
    "accuracy": Metric("classification", _accuracy),
    "f1": Metric("classification", _f1, binary=True),
    "f1_macro": Metric("classification", _f1_macro),
    "matthews_correlation": Metric("classification", _matthews, correlation=True),
    "pearson": Metric("regression", _pearson, correlation=True),
    "spearmanr": Metric("regression", _spearman, correlation=True),
})


@dataclass(frozen=True)
class Scores:
    """A task's metrics (fractions; correlations in [-1, 1]) and the names of undefined ones."""

    values: dict[str, float]
    undefined: tuple[str, ...] = ()


def predictions_from_logits(task, logits: np.ndarray) -> np.ndarray:
    """Class ids (argmax) for classification, the single output for regression.

    Args:
        task: a task (GLUE registry entry or task spec).
        logits: ``[examples, num_labels]`` model outputs.
    """
    logits = np.asarray(logits)
    return logits[:, 0].astype(np.float32) if task.is_regression else logits.argmax(axis=-1)


def score(task, predictions: np.ndarray, labels: Sequence[float]) -> Scores:
    """Score predictions (class ids or regression outputs) against gold labels, in ``task.metrics`` order.

    Both sides are cast as the GLUE metric module casts them (int64 class ids, float32 scores),
    so values are identical to ``evaluate.load("eval/glue_metric", task)``.
    """
    dtype = np.float32 if task.is_regression else np.int64
    predictions, references = np.asarray(predictions, dtype=dtype), np.asarray(labels, dtype=dtype)
    values, undefined = {}, []
    for name in task.metrics:
        metric = METRICS[name]
        if metric.correlation and (np.ptp(predictions) == 0 or np.ptp(references) == 0):
            values[name] = 0.0
            undefined.append(name)
        else:
            values[name] = metric.function(predictions, references)
    if undefined:
        log.warning("%s: %s undefined (constant predictions or labels); reported as 0.0",
                    task.name, ", ".join(undefined))
    return Scores(values, tuple(undefined))


def selection_score(task, metrics: Mapping[str, float]) -> float:
    """The score a checkpoint is chosen by: the mean of the task's metrics, the GLUE Score's rule for one
    task (MRPC: F1 and accuracy; STS-B: Pearson and Spearman). F1 alone rewards an all-positive model
    on MRPC (81.2 F1 at 68.4% accuracy); the mean does not."""
    return float(np.mean([metrics[name] for name in task.metrics]))


def format_metrics(metrics: Mapping[str, float]) -> str:
    """Metrics as the commands print them: ``f1 82.70, accuracy 74.26`` (percent, two decimals)."""
    return ", ".join(f"{name} {100 * value:.2f}" for name, value in metrics.items())


def majority_share(task, predictions: np.ndarray) -> float | None:
    """The share of predictions falling on the most predicted class (``None`` for regression)."""
    if task.is_regression or len(predictions) == 0:
        return None
    return float(np.bincount(np.asarray(predictions, dtype=np.int64)).max() / len(predictions))


# A model whose predictions fall on one class this often has learned (almost) nothing but the prior.
COLLAPSE_SHARE = 0.95


def compute_metrics(task, predictions: np.ndarray, labels: Sequence[float]) -> dict[str, float]:
    """The task's metrics as a dict (see :func:`score`, which also says which were undefined)."""
    return score(task, predictions, labels).values
