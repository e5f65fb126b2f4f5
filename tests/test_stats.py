"""The vectorised bootstrap metrics equal the library metrics they stand for."""

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

from eval.stats import VECTORISED, mean_std, paired_bootstrap


@pytest.mark.parametrize("classes", [2, 3])
def test_classification_metrics_match_sklearn(classes):
    rng = np.random.default_rng(classes)
    y = rng.integers(0, classes, 300)
    p = np.where(rng.random(300) < 0.7, y, rng.integers(0, classes, 300))
    expected = {"accuracy": (p == y).mean(), "matthews_correlation": matthews_corrcoef(y, p),
                "f1_macro": f1_score(y, p, average="macro")}
    if classes == 2:
        expected["f1"] = f1_score(y, p)
    for name, value in expected.items():
        assert VECTORISED[name](p[None], y[None])[0] == pytest.approx(value), name


def test_correlations_match_scipy():
    rng = np.random.default_rng(1)
    y = rng.random(200) * 5
    p = y + rng.normal(0, 1, 200)
    assert VECTORISED["pearson"](p[None], y[None])[0] == pytest.approx(pearsonr(p, y)[0])
    assert VECTORISED["spearmanr"](p[None], y[None])[0] == pytest.approx(spearmanr(p, y)[0])


def test_bootstrap_averages_seeds_and_is_symmetric():
    y = np.array([0, 1] * 50)
    a = [y.copy(), np.where(np.arange(100) < 10, 1 - y, y)]  # 100% and 90% accurate
    b = [np.where(np.arange(100) < 30, 1 - y, y)]  # 70%
    forward = paired_bootstrap("accuracy", a, b, y, resamples=2000)
    backward = paired_bootstrap("accuracy", b, a, y, resamples=2000)
    assert forward["a_value"] == pytest.approx(0.95) and forward["difference"] == pytest.approx(0.25)
    assert forward["p_value"] == backward["p_value"] and forward["p_value"] < 0.01
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(2 ** 0.5)) and mean_std([5.0]) == (5.0, None)
