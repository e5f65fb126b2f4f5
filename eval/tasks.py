"""Task names, resolved once: a GLUE name or a task spec file, behind one interface (:class:`Task`).

The GLUE registry is :mod:`eval.glue_tasks`, a user's own task a YAML task spec
(:mod:`eval.task_spec`); :func:`get_task` takes either wherever a task is named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval.core.errors import UserError
from eval.glue_tasks import IS_REGRESSION, NUM_LABELS, TASKS, GlueTask, Task, TsvFormat, glue_task, is_glue_name
from eval.task_spec import load_task_spec

# The registry's names are re-exported: callers name tasks through this module.
__all__ = ["IS_REGRESSION", "NUM_LABELS", "SPEC_SUFFIXES", "TASKS", "GlueTask", "Task", "TsvFormat", "get_task",
           "is_glue_name", "parse_tasks", "task_metadata"]


SPEC_SUFFIXES = (".yaml", ".yml")
_DATA_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet")


def get_task(name: str | Path) -> Task:
    """Look a task up by GLUE name, a common spelling (``SST-2``, ``MNLI-mm``), or a task spec path.

    Raises:
        UserError: not a GLUE task (the message lists the valid ones), or a task spec file that
            is missing or invalid.
    """
    text = str(name).strip()
    suffix = Path(text).suffix.lower()
    if suffix in SPEC_SUFFIXES:
        return load_task_spec(text)
    task = glue_task(text)
    if task is not None:
        return task
    hint = (f"; {text} is a data file: write a task spec (.yaml) that names it" if suffix in _DATA_SUFFIXES
            else ", or pass a task spec file (my_task.yaml)")
    raise UserError(f"unknown GLUE task {text!r}; choose one of {', '.join(TASKS)}{hint}")


def task_metadata(task: Task) -> dict[str, Any]:
    """What a results file records about its task, so a report can show it without the spec file.

    ``is_glue`` and ``score_group`` say whether and how the task counts towards the GLUE Score
    (custom tasks: ``False`` and ``None``).
    """
    return {"name": task.name, "display_name": task.display_name, "is_glue": task.is_glue,
            "score_group": task.score_group, "metrics": list(task.metrics), "main_metric": task.main_metric,
            "is_regression": task.is_regression, "label_names": list(task.label_names), "spec": task.spec}


def parse_tasks(spec: str | list[str]) -> list[Task]:
    """Turn ``"sst2,mrpc"``, ``["sst2", "my_task.yaml"]`` or ``"all"`` (every labeled GLUE task) into tasks."""
    names = spec.split(",") if isinstance(spec, str) else [p for s in spec for p in s.split(",")]
    names = [n for n in (n.strip() for n in names) if n]
    if names == ["all"]:
        return [t for t in TASKS.values() if t.score_group is not None]
    if not names:
        raise UserError(f"no task given; choose from {', '.join(TASKS)}, 'all', or a task spec file")
    tasks = [get_task(n) for n in names]
    names = [t.name for t in tasks]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"task {', '.join(twice)} given twice; results are keyed by task name, name each once")
    return tasks
