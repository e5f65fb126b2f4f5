"""Fine-tuning and TinyBERT-style distillation of BERT models; the Python API of ``distill``.

    from distill import finetune, general, pick, task

    teacher = finetune(task="sst2", model="minilm-l6", output_dir="runs/teacher", train={"max_steps": 500})
    student = task(task="sst2", teacher=teacher, student="tiny", output_dir="runs/student")
    best = pick([finetune(task="my-holdout/task.yaml", model="tiny", output_dir=f"runs/tiny-{lr}", train={"lr": lr})
                 for lr in (1e-4, 3e-4, 1e-3)], output_dir="runs/tiny")

Each function takes the settings of its command (``distill finetune|general|task --help`` lists
them) as keywords, or a config (:mod:`distill.config`, a recipe file or a mapping) with keywords
on top, runs it exactly as the command does and returns the output folder. Importing this package
is cheap and prints nothing: the heavy libraries load on the first call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import eval as _quiet  # noqa: F401  (eval/__init__.py quiets torchao and torch notices before torch loads)

__all__ = ["finetune", "general", "pick", "task"]

# The modules other code may build on: the commands' entry points and configs, the student presets
# and cuts, model loading and the augmented-data format. The training machinery (builders, loop,
# objectives, features, teacher outputs, ...) is internal. tests/test_layering.py holds benchmarks/ to this.
PUBLIC_MODULES = ("distill", "distill.api", "distill.config", "distill.students", "distill.cut", "distill.teachers",
                  "distill.augment", "distill.best_run")


def finetune(config: Any = None, /, **settings: Any) -> Path:
    """Fine-tune a model (Hub id, alias or folder), or train a student preset from scratch, on a task's labels.

    Args:
        config: a :class:`distill.config.FinetuneConfig`, a recipe YAML file or a mapping (optional).
        **settings: config fields on top of it: ``task`` (a GLUE name, a task spec file, or a
            ``datasets.DatasetDict`` with ``train`` and ``validation`` splits, described further by
            ``text_columns``, ``label_column`` and ``task_name``), ``model``, ``output_dir``,
            ``data_dir``, ``tokenizer``, and ``train`` (a mapping, e.g. ``{"max_steps": 200, "lr": 3e-5}``).
    Returns:
        The output folder (loadable with ``from_pretrained``).
    Raises:
        eval.UserError: bad settings (all at once), bad data, or a run the folder refuses.
    """
    from distill.python_api import run

    return run("finetune", config, settings)


def general(config: Any = None, /, **settings: Any) -> Path:
    """General distillation: a teacher's attention and hidden states into a new student, on unlabeled text.

    Args:
        config: a :class:`distill.config.GeneralConfig`, a recipe YAML file or a mapping (optional).
        **settings: config fields on top of it: ``teacher``, ``student``, ``corpus``, ``output_dir``,
            ``train`` (a mapping; ``max_steps`` is required), ``probe``, ...
    Returns:
        The student's folder.
    Raises:
        eval.UserError: bad settings (all at once), bad data, or a run the folder refuses.
    """
    from distill.python_api import run

    return run("general", config, settings)


def task(config: Any = None, /, **settings: Any) -> Path:
    """Task distillation (TinyBERT's two phases) of a fine-tuned teacher into a student on a task.

    Args:
        config: a :class:`distill.config.TaskConfig`, a recipe YAML file or a mapping (optional).
        **settings: config fields on top of it: ``task`` (as for :func:`finetune`, a Dataset included),
            ``teacher``, ``student``, ``output_dir``, ``phases``, ``train`` (a mapping), ...
    Returns:
        The student's folder.
    Raises:
        eval.UserError: bad settings (all at once), bad data, or a run the folder refuses.
    """
    from distill.python_api import run

    return run("task", config, settings)


def pick(runs: Any, /, output_dir: str | Path) -> Path:
    """The best of several finished ``finetune`` or ``task`` runs of one task, copied to ``output_dir``.

    Runs are compared by the mean of their dev metrics (the rule each kept its checkpoint by); the
    folder gets the winner's model and ``pick.json`` with every candidate's score. Tune on a
    held-out slice of train (``glue holdout``), not on the split you report.

    Args:
        runs: the run folders (two or more).
    Returns:
        The output folder (a rerun with the same runs returns it at once).
    Raises:
        eval.UserError: a run that is not finished or not scored, runs of different tasks, or an
            output folder holding something else.
    """
    from distill.best_run import pick as _pick

    return _pick(runs, output_dir)
