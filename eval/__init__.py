"""GLUE evaluation harness: task registry, data loading, metrics, predictors, reports.

This is the base layer of the toolkit: ``distill`` and ``quantize`` import from it, never the
other way round.
"""

import logging as _logging

from eval.errors import UserError
from eval.tasks import TASKS, GlueTask, get_task

# torchao (pulled in by neural-compressor) logs a warning per optional CUDA kernel it cannot load
# whenever transformers is imported, and torch notes deprecations through _pytree; both are noise
# for every command of this toolkit, so they are quieted before anything imports transformers.
for _name in ("torchao", "torch.utils._pytree"):
    _logging.getLogger(_name).setLevel(_logging.ERROR)

__all__ = ["TASKS", "GlueTask", "UserError", "get_task"]
