"""GLUE metrics as an ``evaluate`` module that works offline.

``evaluate.load("glue", name)`` fetches a script from the Hub; this module computes the same
metrics under the same names (``accuracy``, ``f1``, ``matthews_correlation``, ``pearson``,
``spearmanr``; fractions, not percentages) and loads by path::

    evaluate.load("eval/glue_metric", "mrpc")

or directly as ``GlueMetric(config_name="mrpc")``. The functions are those of the toolkit's metric
registry (:data:`eval.metrics.METRICS`), so both ways give the same numbers.
"""

import datasets
import evaluate

from eval.metrics import METRICS

_DESCRIPTION = "GLUE metrics (accuracy, F1, Matthews correlation, Pearson, Spearman) by task."
_CITATION = """@inproceedings{wang2019glue,
  title={{GLUE}: A Multi-Task Benchmark and Analysis Platform for Natural Language Understanding},
  author={Wang, Alex and Singh, Amanpreet and Michael, Julian and Hill, Felix and Levy, Omer and Bowman, Samuel R.},
  booktitle={ICLR}, year={2019}}"""
_INPUTS = "predictions: predicted class ids (floats for stsb); references: gold labels."

# Which metrics each GLUE configuration reports, as Hugging Face's glue metric does.
METRICS_BY_CONFIG = {
    "cola": ("matthews_correlation",), "ax": ("matthews_correlation",),
    "sst2": ("accuracy",), "mnli": ("accuracy",), "mnli-mm": ("accuracy",),
    "mnli_matched": ("accuracy",), "mnli_mismatched": ("accuracy",), "qnli": ("accuracy",),
    "rte": ("accuracy",), "wnli": ("accuracy",), "hans": ("accuracy",),
    "mrpc": ("accuracy", "f1"), "qqp": ("accuracy", "f1"),
    "stsb": ("pearson", "spearmanr"),
}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class GlueMetric(evaluate.Metric):
    def _info(self):
        if self.config_name not in METRICS_BY_CONFIG:
            raise KeyError(f"unknown GLUE configuration {self.config_name!r}; "
                           f"choose one of {sorted(METRICS_BY_CONFIG)}")
        dtype = "float32" if self.config_name == "stsb" else "int64"
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_INPUTS,
            features=datasets.Features({"predictions": datasets.Value(dtype),
                                        "references": datasets.Value(dtype)}),
            format="numpy",
        )

    def _compute(self, predictions, references):
        return {name: METRICS[name].function(predictions, references)
                for name in METRICS_BY_CONFIG[self.config_name]}
