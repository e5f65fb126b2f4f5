"""Is one model really better than another on a dev set? Seed statistics and a paired bootstrap test.

Small GLUE dev sets (71 to 1,500 examples) make a point or two of difference common by chance,
so comparisons are reported with the spread over seeds and a paired bootstrap test over dev
examples (Koehn, 2004; Dror et al., 2018): resample the dev set with replacement many times,
score both models on each resample (the metric averaged over their seeds), and read the
two-sided p-value and a 95% interval of the difference off that distribution. A resample is
held as weights on the dev examples (how often each was drawn), so the metrics of thousands of
resamples are a few matrix products, never thousands of resampled copies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import fmean, stdev
from typing import Callable, Iterator, Sequence

import numpy as np

RESAMPLES = 10_000


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (``None`` for a single value)."""
    values = [float(v) for v in values]
    return fmean(values), (stdev(values) if len(values) > 1 else None)


# A resample is a weighting of the dev examples: ``weights[r, i]`` is how many times example ``i``
# was drawn into resample ``r`` (each row sums to the number of examples). Each function scores
# every resample at once from the predictions and labels ``[examples]`` and the weights
# ``[resamples, examples]``, mostly as matrix-vector products, so the resampled arrays are never
# built. The metrics equal the library ones computed on the resampled lists.
def _accuracy(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    return w @ (p == y) / w.sum(axis=1)


def _counts(p: np.ndarray, y: np.ndarray, w: np.ndarray, positive) -> tuple[np.ndarray, ...]:
    tp = w @ ((p == positive) & (y == positive))
    fp = w @ ((p == positive) & (y != positive))
    fn = w @ ((p != positive) & (y == positive))
    return tp, fp, fn


def _safe(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def _f1(p: np.ndarray, y: np.ndarray, w: np.ndarray, positive=1) -> np.ndarray:
    tp, fp, fn = _counts(p, y, w, positive)
    return _safe(2 * tp, 2 * tp + fp + fn)


def _f1_macro(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.mean([_f1(p, y, w, c) for c in np.union1d(p, y)], axis=0)


def _matthews(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Matthews correlation for any number of classes (Gorodkin's R_K), 0 where undefined."""
    classes = np.union1d(p, y)
    n = w.sum(axis=1)
    correct = w @ (p == y)
    predicted = w @ (p[:, None] == classes)
    actual = w @ (y[:, None] == classes)
    numerator = correct * n - (predicted * actual).sum(axis=1)
    denominator = np.sqrt((n * n - (predicted ** 2).sum(axis=1)) * (n * n - (actual ** 2).sum(axis=1)))
    return _safe(numerator, denominator)


def _weighted_sum(w: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``sum_i w[r, i] * values[i]`` (or ``values[r, i]``) for every resample ``r``."""
    return w @ values if values.ndim == 1 else np.einsum("ri,ri->r", w, values)


def _pearson(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson's r of every resample; ``p`` and ``y`` may also hold one value per resample and example."""
    n = w.sum(axis=1)
    p = p - p.mean()  # centred once, for precision; r does not change under a shift
    y = y - y.mean()
    sp, sy = _weighted_sum(w, p), _weighted_sum(w, y)
    covariance = _weighted_sum(w, p * y) - sp * sy / n
    variance_p = _weighted_sum(w, p * p) - sp * sp / n
    variance_y = _weighted_sum(w, y * y) - sy * sy / n
    return _safe(covariance, np.sqrt(np.clip(variance_p, 0, None) * np.clip(variance_y, 0, None)))


def _ranks(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``[resamples, examples]``: each example's rank among its resample, ties given their mean rank.

    In a resample, ``less`` drawn values lie below a value drawn ``equal`` times, which therefore
    holds ranks ``less + 1 .. less + equal`` (mean ``less + (equal + 1) / 2``), as scipy's
    ``rankdata`` gives it on the resampled list.
    """
    distinct, group = np.unique(values, return_inverse=True)
    group = group.ravel()
    order = np.argsort(group, kind="stable")
    last = np.searchsorted(group[order], np.arange(len(distinct)), side="right") - 1  # of each distinct value
    through = np.cumsum(w[:, order], axis=1)[:, last]  # weight drawn at or below each distinct value
    equal = np.diff(through, axis=1, prepend=0)  # weight drawn at each distinct value
    less = through - equal
    return (less + (equal + 1) / 2)[:, group]


def _spearman(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    return _pearson(_ranks(p, w), _ranks(y, w), w)


VECTORISED: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "accuracy": _accuracy, "f1": _f1, "f1_macro": _f1_macro, "matthews_correlation": _matthews,
    "pearson": _pearson, "spearmanr": _spearman,
}


def resample_weights(examples: int, resamples: int, seed: int = 0, chunk: int = 500) -> Iterator[np.ndarray]:
    """Bootstrap weights, ``[chunk, examples]`` at a time: how often each example is drawn into each resample.

    Chunks give the same draws as one call would, and keep every array small enough to reuse
    memory: a fresh array of hundreds of MB costs more in page faults than the arithmetic on it.
    """
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        index = rng.integers(0, examples, size=(rows, examples)) + examples * np.arange(rows)[:, None]
        yield np.bincount(index.ravel(), minlength=rows * examples).reshape(rows, examples).astype(float)


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

    def averaged(models: Sequence, weights: np.ndarray) -> np.ndarray:
        return np.mean([score(np.asarray(m), y, weights) for m in models], axis=0)

    full = np.ones((1, len(y)))
    a_value, b_value = float(averaged(a, full)[0]), float(averaged(b, full)[0])
    differences = np.concatenate([averaged(a, weights) - averaged(b, weights)
                                  for weights in resample_weights(len(y), resamples, seed)])
    p_value = min(1.0, 2 * min(float((differences <= 0).mean()), float((differences >= 0).mean())))
    low, high = np.percentile(differences, [2.5, 97.5])
    return {"a_value": a_value, "b_value": b_value, "difference": a_value - b_value,
            "ci95": (float(low), float(high)), "p_value": p_value}
