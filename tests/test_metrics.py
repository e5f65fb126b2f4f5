"""Every metric of the registry against hand-computed values, sklearn/scipy and the evaluate module."""

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

from eval.metrics import METRICS, compute_metrics, predictions_from_logits, score
from eval.tasks import TASKS

PREDICTIONS = np.array([1, 0, 1, 1, 0, 1])
REFERENCES = np.array([1, 0, 0, 1, 1, 1])
# by hand: TP=3 (0,3,5), TN=1 (1), FP=1 (2), FN=1 (4)
ACCURACY = 4 / 6
F1 = 2 * 3 / (2 * 3 + 1 + 1)
MCC = (3 * 1 - 1 * 1) / np.sqrt((3 + 1) * (3 + 1) * (1 + 1) * (1 + 1))


@pytest.mark.parametrize("task_name", ["sst2", "qnli", "rte", "wnli", "mnli", "mnli-mm"])
def test_accuracy_tasks(task_name):
    assert compute_metrics(TASKS[task_name], PREDICTIONS, REFERENCES) == {"accuracy": pytest.approx(ACCURACY)}


@pytest.mark.parametrize("task_name", ["mrpc", "qqp"])
def test_f1_and_accuracy_tasks(task_name):
    result = compute_metrics(TASKS[task_name], PREDICTIONS, REFERENCES)
    assert list(result) == ["f1", "accuracy"]
    assert result["f1"] == pytest.approx(F1) == pytest.approx(f1_score(REFERENCES, PREDICTIONS))
    assert result["accuracy"] == pytest.approx(ACCURACY)


@pytest.mark.parametrize("task_name", ["cola", "ax"])
def test_matthews_tasks(task_name):
    result = compute_metrics(TASKS[task_name], PREDICTIONS, REFERENCES)
    assert result["matthews_correlation"] == pytest.approx(MCC)
    assert MCC == pytest.approx(matthews_corrcoef(REFERENCES, PREDICTIONS))


def test_three_class_matthews_matches_sklearn():
    rng = np.random.default_rng(0)
    predictions, references = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    result = compute_metrics(TASKS["ax"], predictions, references)
    assert result["matthews_correlation"] == pytest.approx(matthews_corrcoef(references, predictions))


def test_stsb_correlations():
    predictions = np.array([0.5, 1.0, 2.0, 4.0, 3.0])
    references = np.array([0.0, 1.5, 2.5, 5.0, 2.0])
    # Spearman by hand: ranks (1,2,3,5,4) vs (1,2,4,5,3): d^2 = 0+0+1+0+1 = 2; 1 - 6*2/(5*24)
    result = compute_metrics(TASKS["stsb"], predictions, references)
    assert result["spearmanr"] == pytest.approx(1 - 6 * 2 / (5 * 24))
    assert result["pearson"] == pytest.approx(pearsonr(predictions, references)[0], rel=1e-6)
    assert result["spearmanr"] == pytest.approx(spearmanr(predictions, references)[0])


def test_predictions_from_logits():
    assert predictions_from_logits(TASKS["mnli"], np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0]])).tolist() == [1, 0]
    assert predictions_from_logits(TASKS["stsb"], np.array([[4.2], [0.3]])).tolist() == pytest.approx([4.2, 0.3])


def test_metric_module_loads_by_path_through_evaluate():
    import evaluate

    from eval import glue_metric

    folder = glue_metric.__path__[0]
    metric = evaluate.load(folder, "mrpc")
    result = metric.compute(predictions=PREDICTIONS, references=REFERENCES)
    assert result == {"accuracy": pytest.approx(ACCURACY), "f1": pytest.approx(F1)}


@pytest.mark.parametrize("config", ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "ax"])
def test_harness_metrics_equal_the_evaluate_module(config):
    from eval.glue_metric import GlueMetric

    task = TASKS[config]
    rng = np.random.default_rng(1)
    if task.is_regression:
        predictions, references = rng.uniform(0, 5, 40).astype(np.float32), rng.uniform(0, 5, 40)
    else:
        predictions, references = rng.integers(0, task.num_labels, 40), rng.integers(0, task.num_labels, 40)
    expected = GlueMetric(config_name=config, keep_in_memory=True).compute(predictions=predictions,
                                                                          references=references)
    assert compute_metrics(task, predictions, references) == {name: expected[name] for name in task.metrics}


class ThreeClasses:
    """A stand-in task for metrics outside GLUE's (a task spec would give the same attributes)."""

    name, is_regression, num_labels = "topics", False, 3
    metrics = ("f1_macro", "accuracy", "matthews_correlation")


def test_macro_f1_by_hand():
    predictions = np.array([0, 0, 1, 2, 2, 1])
    references = np.array([0, 1, 1, 2, 2, 2])
    # class 0: TP1 FP1 FN0 -> F1 2/3; class 1: TP1 FP1 FN1 -> 1/2; class 2: TP2 FP0 FN1 -> 4/5
    result = score(ThreeClasses, predictions, references)
    assert result.values["f1_macro"] == pytest.approx((2 / 3 + 1 / 2 + 4 / 5) / 3)
    assert result.values["f1_macro"] == pytest.approx(f1_score(references, predictions, average="macro"))
    assert result.values["accuracy"] == pytest.approx(4 / 6) and result.undefined == ()


def test_undefined_correlations_are_zero_and_named_never_nan():
    collapsed = score(ThreeClasses, np.zeros(6, dtype=int), np.array([0, 1, 2, 0, 1, 2]))
    assert collapsed.values["matthews_correlation"] == 0.0
    assert collapsed.undefined == ("matthews_correlation",)
    constant = score(TASKS["stsb"], np.full(5, 2.5), np.array([0.0, 1.0, 2.0, 3.0, 4.0]))
    assert constant.values == {"pearson": 0.0, "spearmanr": 0.0}
    assert constant.undefined == ("pearson", "spearmanr")
    one_example = score(TASKS["stsb"], np.array([1.0]), np.array([3.0]))
    assert one_example.undefined == ("pearson", "spearmanr")
    assert all(np.isfinite(v) for v in (*collapsed.values.values(), *constant.values.values()))


def test_registry_kinds():
    assert set(METRICS) == {"accuracy", "f1", "f1_macro", "matthews_correlation", "pearson", "spearmanr"}
    assert {n for n, m in METRICS.items() if m.kind == "regression"} == {"pearson", "spearmanr"}
    assert [n for n, m in METRICS.items() if m.binary] == ["f1"]
