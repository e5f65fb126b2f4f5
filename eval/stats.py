"""Is one model really better than another on a dev set? Seed statistics and a paired bootstrap test.

Small GLUE dev sets (71 to 1,500 examples) make a point or two of difference common by chance,
so comparisons are reported with the spread over seeds and a paired bootstrap test over dev
examples (Koehn, 2004; Dror et al., 2018): resample the dev set with replacement many times,
score both models on each resample (the metric averaged over their seeds), and read the
two-sided p-value and a 95% interval of the difference off that distribution. Metrics are
computed vectorised over all resamples at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import fmean, stdev
from typing import Callable, Sequence

import numpy as np

RESAMPLES = 10_000


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (``None`` for a single value)."""
    values = [float(v) for v in values]
    return fmean(values), (stdev(values) if len(values) > 1 else None)


# Each function scores many resamples at once: predictions and labels are [resamples, examples].
def _accuracy(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (p == y).mean(axis=1)


def _counts(p: np.ndarray, y: np.ndarray, positive) -> tuple[np.ndarray, ...]:
    tp = ((p == positive) & (y == positive)).sum(axis=1).astype(float)
    fp = ((p == positive) & (y != positive)).sum(axis=1).astype(float)
    fn = ((p != positive) & (y == positive)).sum(axis=1).astype(float)
    tn = p.shape[1] - tp - fp - fn
    return tp, fp, fn, tn


def _safe(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def _f1(p: np.ndarray, y: np.ndarray, positive=1) -> np.ndarray:
    tp, fp, fn, _ = _counts(p, y, positive)
    return _safe(2 * tp, 2 * tp + fp + fn)


def _f1_macro(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    classes = np.unique(np.concatenate([p.ravel(), y.ravel()]))
    return np.mean([_f1(p, y, c) for c in classes], axis=0)


def _matthews(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Matthews correlation for any number of classes (Gorodkin's R_K), 0 where undefined."""
    classes = np.unique(np.concatenate([p.ravel(), y.ravel()]))
    n = p.shape[1]
    correct = (p == y).sum(axis=1).astype(float)
    predicted = np.stack([(p == c).sum(axis=1) for c in classes], axis=1).astype(float)
    actual = np.stack([(y == c).sum(axis=1) for c in classes], axis=1).astype(float)
    numerator = correct * n - (predicted * actual).sum(axis=1)
    denominator = np.sqrt((n * n - (predicted ** 2).sum(axis=1)) * (n * n - (actual ** 2).sum(axis=1)))
    return _safe(numerator, denominator)


def _pearson(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = p - p.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    return _safe((p * y).sum(axis=1), np.sqrt((p * p).sum(axis=1) * (y * y).sum(axis=1)))


def _spearman(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return _pearson(rankdata(p, axis=1), rankdata(y, axis=1))


VECTORISED: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "accuracy": _accuracy, "f1": _f1, "f1_macro": _f1_macro, "matthews_correlation": _matthews,
    "pearson": _pearson, "spearmanr": _spearman,
}


@dataclass(frozen=True)
class Comparison:
    """Model A against model B on one metric of one task (metrics as fractions, seeds averaged)."""

    task: str
    metric: str
    a: str
    b: str
    a_value: float
    b_value: float
    difference: float  # a - b
    ci95: tuple[float, float]
    p_value: float  # two-sided; with R resamples the smallest is about 2/R
    seeds: tuple[int, int]
    examples: int
    resamples: int
    test: str = "paired bootstrap over dev examples, metric averaged over seeds"

    def as_dict(self) -> dict:
        return asdict(self)


def paired_bootstrap(metric: str, a: Sequence[Sequence[float]], b: Sequence[Sequence[float]],
                     labels: Sequence[float], resamples: int = RESAMPLES, seed: int = 0) -> dict:
    """Compare two models' predictions on the same examples.

    Args:
        metric: a metric name of :data:`VECTORISED`.
        a, b: one prediction array per seed (class ids, or scores for regression), each
            ``[examples]`` in the order of ``labels``.
        labels: gold labels, ``[examples]``.

    Returns:
        ``a_value``, ``b_value`` (metric averaged over seeds), ``difference``, ``ci95`` and the
        two-sided ``p_value`` of "no difference".
    """
    score = VECTORISED[metric]
    y = np.asarray(labels)
    preds = [np.asarray(x) for x in (*a, *b)]
    if any(p.shape != y.shape for p in preds):
        raise ValueError("every prediction array must have one entry per label")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(y), size=(resamples, len(y)))

    def averaged(models: Sequence, rows: np.ndarray) -> np.ndarray:
        return np.mean([score(np.asarray(m)[rows], y[rows]) for m in models], axis=0)

    full = np.arange(len(y))[None, :]
    a_value, b_value = float(averaged(a, full)[0]), float(averaged(b, full)[0])
    differences = averaged(a, index) - averaged(b, index)
    p_value = min(1.0, 2 * min(float((differences <= 0).mean()), float((differences >= 0).mean())))
    low, high = np.percentile(differences, [2.5, 97.5])
    return {"a_value": a_value, "b_value": b_value, "difference": a_value - b_value,
            "ci95": (float(low), float(high)), "p_value": p_value}
