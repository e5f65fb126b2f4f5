"""GLUE evaluation harness: task registry, data loading, metrics, predictors, reports.

This is the base layer of the toolkit: ``distill`` and ``quantize`` import from it, never the
other way round.
"""

from eval.errors import UserError
from eval.tasks import TASKS, GlueTask, get_task

__all__ = ["TASKS", "GlueTask", "UserError", "get_task"]
