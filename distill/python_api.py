"""The Python API behind ``from distill import finetune, general, task``: settings or a config -> one run.

Each function takes what its command takes, as a config object, a recipe file or a mapping, with
keyword settings on top (the order of the command line: defaults < recipe < keywords). Keywords
name config fields (``task=``, ``model=``, ``output_dir=``); a section such as ``train`` takes a
mapping merged into the recipe's (``train={"max_steps": 200}``). A ``datasets.Dataset`` given as
``task`` is written as a task spec (:mod:`eval.dataset_task`) into ``<output_dir>-data`` first, so the
run's ``run_config.yaml`` names real files and a rerun resumes like any other.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, Mapping

from eval.core.errors import UserError

Config = Any  # a config dataclass of distill.config, a recipe path, a mapping, or None
DATASET_OPTIONS = ("text_columns", "label_column", "task_name")


def run(command: str, config: Config, settings: Mapping[str, Any]) -> Path:
    """Build ``command``'s config from ``config`` and ``settings`` and run it; returns the output folder.

    Raises:
        UserError: every problem with the settings at once, or whatever the run refuses.
    """
    from distill import api
    from eval.core.console import quiet_third_party_logs

    quiet_third_party_logs()
    stages = {"finetune": api.finetune, "general": api.general_distill, "task": api.task_distill}
    return stages[command](build_config(command, config, settings))


def build_config(command: str, config: Config, settings: Mapping[str, Any]) -> Any:
    """The validated config: ``config`` (object, recipe file or mapping) with ``settings`` applied."""
    from distill.config import CONFIGS
    from eval.core.config import from_dict, read_yaml, to_dict

    cls = CONFIGS[command]
    if config is None:
        data: dict[str, Any] = {}
    elif isinstance(config, cls):
        data = to_dict(config)
    elif isinstance(config, (str, Path)):
        data = read_yaml(config)
    elif isinstance(config, Mapping):
        data = dict(config)
    else:
        raise UserError(f"config must be a {cls.__name__}, a recipe file or a mapping, not {type(config).__name__}")
    settings = dict(settings)
    dataset_options = {k: settings.pop(k) for k in DATASET_OPTIONS if k in settings}
    sections = {f.name for f in fields(cls) if is_dataclass(f.default)}
    for key, value in settings.items():
        if key in sections and isinstance(value, Mapping):  # merged, so a recipe's other train keys stay
            data[key] = {**(data.get(key) or {}), **value}
        else:
            data[key] = str(value) if isinstance(value, Path) else value
    from eval.dataset_task import is_dataset, write_dataset_task

    if is_dataset(data.get("task")):
        if not data.get("output_dir"):
            raise UserError("give output_dir=...: the dataset is written beside it as a task spec")
        data["task"] = str(write_dataset_task(
            data["task"], f"{data['output_dir']}-data", name=dataset_options.get("task_name", "dataset"),
            text_columns=dataset_options.get("text_columns", ()),
            label_column=dataset_options.get("label_column", "label"), need=("train", "validation")))
    elif dataset_options:
        raise UserError(f"{', '.join(dataset_options)} apply only when task is a datasets.Dataset")
    return from_dict(cls, data, "config")
