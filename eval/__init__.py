"""GLUE evaluation harness: task registry, data loading, metrics, predictors, reports.

This is the base layer of the toolkit: ``distill`` and ``quantize`` import from it, never the
other way round.
"""

import logging as _logging

from eval.core.errors import UserError
from eval.tasks import TASKS, GlueTask, get_task

# torchao (pulled in by neural-compressor) logs a warning per optional CUDA kernel it cannot load
# whenever transformers is imported, and torch notes deprecations through _pytree; both are noise
# for every command of this toolkit, so they are quieted before anything imports transformers.
for _name in ("torchao", "torch.utils._pytree"):
    _logging.getLogger(_name).setLevel(_logging.ERROR)

__all__ = ["TASKS", "GlueTask", "UserError", "evaluate", "get_task"]

# The modules other code may build on (benchmarks, users' scripts); the rest is the harness's own
# machinery and may change. tests/test_layering.py holds benchmarks/ to this list.
PUBLIC_MODULES = ("eval", "eval.tasks", "eval.data", "eval.examples", "eval.harness", "eval.metrics", "eval.stats",
                  "eval.predictors", "eval.batching", "eval.floors", "eval.board", "eval.report", "eval.leaderboard",
                  "eval.core.artifacts", "eval.core.console", "eval.core.errors")


def evaluate(model, task, config=None, /, *, name: str | None = None, progress: bool = False,
             text_columns=(), label_column: str = "label", task_name: str = "dataset", **settings):
    """Score a model folder (PyTorch, ONNX or INT8) on tasks, as ``glue eval`` does; returns the results document.

    Args:
        model: a model folder, ``.onnx`` file or Hub id.
        task: a GLUE name, a task spec file, a list of them (or ``"sst2,mrpc"``), or a ``datasets.Dataset``
            (its validation split) / ``DatasetDict``, described by ``text_columns``, ``label_column`` and
            ``task_name`` (see :mod:`eval.dataset_task`).
        config: an :class:`eval.harness.EvalSettings` (optional); ``settings`` override its fields:
            ``split``, ``batch_size``, ``max_seq_length``, ``data_dir``, ``limit``, ``device``, ``threads``.
        name: the model's row name in reports (default: its folder name).
    Returns:
        The results document (``results[task]["metrics"]`` holds the scores); write it with
        :func:`eval.core.artifacts.write_json` for ``glue report``.
    Raises:
        UserError: a bad setting, task or dataset, or a model that does not fit the task.
    """
    import dataclasses
    import tempfile

    from eval.core.console import quiet_third_party_logs
    from eval.dataset_task import is_dataset, write_dataset_task
    from eval.harness import EvalSettings, evaluate_model
    from eval.tasks import parse_tasks

    quiet_third_party_logs()
    unknown = sorted(set(settings) - {f.name for f in dataclasses.fields(EvalSettings)})
    if unknown:
        raise UserError(f"unknown setting {', '.join(unknown)}; choose from "
                        f"{', '.join(f.name for f in dataclasses.fields(EvalSettings))}")
    eval_settings = dataclasses.replace(config or EvalSettings(), **settings)
    if not is_dataset(task):
        return evaluate_model(str(model), parse_tasks(task), eval_settings, progress=progress, name=name)
    with tempfile.TemporaryDirectory(prefix="dataset-task-") as folder:
        spec = write_dataset_task(task, folder, name=task_name, text_columns=text_columns, label_column=label_column,
                                  need=())
        return evaluate_model(str(model), parse_tasks(str(spec)), eval_settings, progress=progress, name=name)
