"""Turn model outputs into GLUE metrics, through the offline ``evaluate`` module."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from eval.tasks import GlueTask


def predictions_from_logits(task: GlueTask, logits: np.ndarray) -> np.ndarray:
    """Class ids (argmax) for classification, the single output for regression.

    Args:
        logits: ``[examples, num_labels]`` model outputs.
    """
    logits = np.asarray(logits)
    return logits[:, 0].astype(np.float32) if task.is_regression else logits.argmax(axis=-1)


def compute_metrics(task: GlueTask, predictions: np.ndarray, labels: Sequence[float]) -> dict[str, float]:
    """Score predictions (class ids or regression outputs) against gold labels.

    Returns:
        The task's metrics as fractions in [0, 1] (correlations in [-1, 1]), keyed as Hugging
        Face's GLUE metric keys them.
    """
    from eval.glue_metric import GlueMetric  # imports `evaluate` (seconds): only when scoring

    metric = GlueMetric(config_name=task.name, keep_in_memory=True)
    result = metric.compute(predictions=np.asarray(predictions), references=np.asarray(labels))
    return {name: float(result[name]) for name in task.metrics}
