"""The offline GLUE metric module (see ``glue_metric.py``)."""

from eval.glue_metric.glue_metric import METRICS_BY_CONFIG, GlueMetric

__all__ = ["METRICS_BY_CONFIG", "GlueMetric"]
