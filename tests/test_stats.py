"""The vectorised bootstrap metrics equal the library metrics they stand for, on every resample."""

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

from eval.stats import VECTORISED, mean_std, paired_bootstrap, resample_weights


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
        assert VECTORISED[name](p, y, np.ones((1, len(y))))[0] == pytest.approx(value), name


def test_correlations_match_scipy():
    rng = np.random.default_rng(1)
    y = rng.random(200) * 5
    p = y + rng.normal(0, 1, 200)
    once = np.ones((1, len(y)))
    assert VECTORISED["pearson"](p, y, once)[0] == pytest.approx(pearsonr(p, y)[0])
    assert VECTORISED["spearmanr"](p, y, once)[0] == pytest.approx(spearmanr(p, y)[0])


LIBRARY = {"accuracy": lambda y, p: (p == y).mean(), "f1": f1_score,
           "f1_macro": lambda y, p: f1_score(y, p, average="macro"), "matthews_correlation": matthews_corrcoef,
           "pearson": lambda y, p: pearsonr(p, y)[0], "spearmanr": lambda y, p: spearmanr(p, y)[0]}


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_a_weighted_resample_scores_as_the_resampled_list_does(name):
    # Weights stand for the examples drawn with replacement; ties (repeated draws, equal scores)
    # must be ranked as scipy ranks the resampled list.
    rng = np.random.default_rng(7)
    regression = name in ("pearson", "spearmanr")
    y = np.round(rng.random(60) * 5, 1) if regression else rng.integers(0, 2 if name == "f1" else 3, 60)
    p = np.round(y + rng.normal(0, 1, 60), 0) if regression else np.where(rng.random(60) < 0.6, y, 1 - y % 2)
    index = rng.integers(0, 60, size=(25, 60))
    weights = np.stack([np.bincount(row, minlength=60) for row in index]).astype(float)
    expected = [LIBRARY[name](y[row], p[row]) for row in index]
    assert VECTORISED[name](p, y, weights) == pytest.approx(expected)


def test_resample_weights_come_in_chunks_of_the_same_draws():
    chunks = list(resample_weights(examples=30, resamples=25, seed=3, chunk=10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    index = np.random.default_rng(3).integers(0, 30, size=(25, 30))
    expected = np.stack([np.bincount(row, minlength=30) for row in index])
    assert np.array_equal(np.concatenate(chunks), expected) and (expected.sum(axis=1) == 30).all()


def test_bootstrap_averages_seeds_and_is_symmetric():
    y = np.array([0, 1] * 50)
    a = [y.copy(), np.where(np.arange(100) < 10, 1 - y, y)]  # 100% and 90% accurate
    b = [np.where(np.arange(100) < 30, 1 - y, y)]  # 70%
    forward = paired_bootstrap("accuracy", a, b, y, resamples=2000)
    backward = paired_bootstrap("accuracy", b, a, y, resamples=2000)
    assert forward["a_value"] == pytest.approx(0.95) and forward["difference"] == pytest.approx(0.25)
    assert forward["p_value"] == backward["p_value"] and forward["p_value"] < 0.01
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(2 ** 0.5)) and mean_std([5.0]) == (5.0, None)
