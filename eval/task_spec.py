"""Task specs: a user's own classification or regression task, described by a YAML file.

A spec names the task's data, columns, labels and metrics; :func:`load_task_spec` reads it into a
:class:`CustomTask`, which offers what every command reads from a GLUE registry entry (name,
display name, text columns, label names, metrics, main metric, splits, ...). That is how
``--task my_task.yaml`` works wherever ``--task sst2`` does: ``eval.tasks.get_task`` hands the
file here, and its ``load`` reads its splits (:mod:`eval.spec_data`)::

    # my_task.yaml: paths are relative to this file
    name: reviews                       # names result entries and prediction files
    data_files: {train: train.csv, validation: dev.csv, test: test.csv}
    # or: dataset: {path: HUB_ID, name: CONFIG, splits: {train: train, validation: validation}}
    text_columns: [review]              # one column, or two for a pair task
    label_column: label
    label_names: [negative, positive]   # as the file spells them (or class ids 0..n-1);
                                        # or `regression: true` for scores
    metrics: [accuracy, f1]             # from eval.metrics.METRICS; the first is the main metric

Optional keys: ``display_name`` (report column, default ``name``), ``main_metric`` (default the
first metric), ``id_column`` (row ids in predictions, default the row number from 1),
``allow_empty_text`` (``true``: an empty text cell is an empty string, counted by ``glue tasks``;
default: an error), ``label_range: [lowest, highest]`` (regression: scores outside it are bad
labels) and ``label_ids_start`` (the class id of the first label name in the files, 0 or 1). The
harness's ``dev`` split is the ``validation`` file. Labels are required in the train and
validation files; a test file may omit the label column.

Label names are read as written: ``[no, yes]`` is two words, not YAML's booleans. A file's label
is a label name, or a class id: the position of its name counted from ``label_ids_start``. Files
whose integer labels have no 0 are refused unless ``label_ids_start`` says where ids start (they
could count from 1). When the label names are integers (``[1, 2, 3, 4, 5]`` stars), file values
are matched as names, never as class ids.

The YAML is data: keys are checked against this schema (unknown keys are errors, with a
suggestion), and nothing in it is imported or run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, Mapping

from eval.core.config import from_dict, read_yaml
from eval.core.errors import UserError
from eval.labels import LabelScheme
from eval.metrics import METRICS
from eval.examples import GlueData
from eval.glue_tasks import IS_REGRESSION, NUM_LABELS, is_glue_name
from eval.spec_data import FILE_FORMATS, DataSplit, file_format, load_spec_split

__all__ = ["FILE_FORMATS", "SPLIT_KEYS", "CustomTask", "DataSplit", "HubDataset", "file_format", "load_task_spec"]

# Spec key of a split -> the harness's split name.
SPLIT_KEYS: Mapping[str, str] = MappingProxyType({"train": "train", "validation": "dev", "test": "test"})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class HubDataset:
    """``dataset:`` in a spec: a Hub dataset (or a local dataset folder ``load_dataset`` reads).

    ``splits`` maps the spec's split keys (train, validation, test) to the dataset's split names;
    by default each key reads the split of the same name.
    """

    path: str
    name: str | None = None
    splits: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskSpec:
    """The keys of a task spec file, as written (types are checked on load; meaning by :class:`CustomTask`)."""

    name: str
    text_columns: tuple[str, ...]
    label_column: str = "label"
    label_names: tuple[str | int, ...] = ()
    regression: bool = False
    metrics: tuple[str, ...] = ()
    main_metric: str | None = None
    display_name: str | None = None
    id_column: str | None = None
    data_files: dict[str, str] | None = None
    dataset: HubDataset | None = None
    allow_empty_text: bool = False
    label_range: tuple[float, ...] | None = None
    label_ids_start: int | None = None


# Keys whose values are read as the text written: label names are words, not YAML's booleans.
TEXT_KEYS = ("label_names",)


@dataclass(frozen=True)
class CustomTask:
    """A task read from a spec file; validated at construction (every problem in one error).

    Offers the attributes the toolkit reads from a GLUE registry entry; ``score_group`` is
    ``None`` (custom tasks never count towards the GLUE Score) and ``is_glue`` is ``False``.
    ``data_files`` holds absolute paths keyed by the spec's split keys.
    """

    name: str
    display_name: str
    text_columns: tuple[str, ...]
    label_names: tuple[str, ...]
    metrics: tuple[str, ...]
    main_metric: str
    spec: str  # the YAML file this task was read from
    label_column: str = "label"
    id_column: str | None = None
    data_files: Mapping[str, str] | None = None
    dataset: HubDataset | None = None
    allow_empty_text: bool = False
    label_range: tuple[float, float] | None = None
    label_ids_start: int | None = None

    score_group: ClassVar[str | None] = None
    is_glue: ClassVar[bool] = False
    is_regression = IS_REGRESSION
    num_labels = NUM_LABELS

    def __post_init__(self):
        problems = _problems(self)
        if problems:
            raise UserError(f"task spec {self.spec}: {'; '.join(problems)}")

    @property
    def splits(self) -> Mapping[str, DataSplit]:
        """Harness split name (``train``, ``dev``, ``test``) -> where it lives."""
        if self.data_files is not None:
            found = {key: DataSplit(key, file=path, labeled=key != "test") for key, path in self.data_files.items()}
        else:
            names = dict(self.dataset.splits) or {key: key for key in SPLIT_KEYS}
            dataset = "/".join(filter(None, (self.dataset.path, self.dataset.name)))
            found = {key: DataSplit(key, hub_split=split, labeled=key != "test", dataset=dataset)
                     for key, split in names.items()}
        return MappingProxyType({SPLIT_KEYS[key]: found[key] for key in SPLIT_KEYS if key in found})

    def split(self, name: str) -> DataSplit:
        try:
            return self.splits[name]
        except KeyError:
            have = ", ".join(f"{s} ({d.key})" if s != d.key else s for s, d in self.splits.items())
            raise UserError(f"task {self.name} ({self.spec}) has no split {name!r}; it has {have}") from None

    def load(self, split: str, data_dir: str | Path | None = None) -> GlueData:
        """One split from the spec's own files or Hub dataset; ``data_dir`` (a GLUE folder) does not apply."""
        return load_spec_split(self, split)  # its first step resolves the split name (an unknown one is an error)

    def label_scheme(self) -> LabelScheme:
        """How the task's files spell labels: the names, and class ids (from ``label_ids_start``) unless
        the names are integers; scores within ``label_range`` for regression."""
        if self.is_regression:
            return LabelScheme(0, expected="a number", score_range=self.label_range,
                               range_fix=f"label_range in {self.spec}")
        ids = not any(_is_integer(n) for n in self.label_names)
        start = self.label_ids_start or 0
        expected = f"the label_names of {self.name} ({', '.join(self.label_names)})"
        if ids:
            expected += f" or a class id {start}-{start + self.num_labels - 1}"
        return LabelScheme(self.num_labels, {n: i for i, n in enumerate(self.label_names)}, ids=ids,
                           expected=expected, id_start=start)


def load_task_spec(path: str | Path) -> CustomTask:
    """Read and validate a task spec file.

    Raises:
        UserError: the file is missing or not YAML, has unknown keys or wrong types, or its
            content does not make a task (all problems at once).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"task spec {path} does not exist; pass a GLUE task name or a task spec YAML file")
    spec: TaskSpec = from_dict(TaskSpec, read_yaml(path, text_keys=TEXT_KEYS), f"config in {path}")
    if spec.regression == bool(spec.label_names):
        raise UserError(f"task spec {path}: give label_names (the classes, as the file spells them) or "
                        f"regression: true (labels are scores), exactly one of them")
    folder = path.resolve().parent
    metrics = spec.metrics or (("pearson", "spearmanr") if spec.regression else ("accuracy",))
    files = (None if spec.data_files is None
             else MappingProxyType({k: str(folder / Path(v).expanduser()) for k, v in spec.data_files.items()}))
    return CustomTask(
        name=spec.name, display_name=spec.display_name or spec.name, text_columns=spec.text_columns,
        label_names=tuple(str(n) for n in spec.label_names), metrics=metrics,
        main_metric=spec.main_metric or metrics[0], spec=str(path), label_column=spec.label_column,
        id_column=spec.id_column, data_files=files, dataset=spec.dataset, allow_empty_text=spec.allow_empty_text,
        label_range=spec.label_range, label_ids_start=spec.label_ids_start,
    )


def _problems(task: CustomTask) -> list[str]:
    problems: list[str] = []
    if not _NAME.fullmatch(task.name):
        problems.append(f"name {task.name!r} must be letters, digits, '.', '_' or '-' (it names files)")
    elif is_glue_name(task.name):
        problems.append(f"name {task.name!r} is a GLUE task; choose another name")
    columns = [*task.text_columns, task.label_column, *([task.id_column] if task.id_column else [])]
    if not 1 <= len(task.text_columns) <= 2:
        problems.append(f"text_columns must name one column (single text) or two (a pair), not "
                        f"{len(task.text_columns)}")
    if len(set(columns)) != len(columns) or not all(columns):
        problems.append(f"text_columns, label_column and id_column must be distinct, non-empty names "
                        f"(got {columns})")
    if task.label_names:
        if len(task.label_names) < 2:
            problems.append("label_names needs at least two classes")
        if len({n.lower() for n in task.label_names}) != len(task.label_names):
            problems.append(f"label_names must be distinct (ignoring case): {list(task.label_names)}")
    kind = "regression" if task.is_regression else "classification"
    for name in task.metrics:
        metric = METRICS.get(name)
        if metric is None:
            problems.append(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
        elif metric.kind != kind:
            problems.append(f"metric {name} is for {metric.kind}, but this task is {kind}")
        elif metric.binary and len(task.label_names) != 2:
            problems.append(f"metric {name} is for two classes; use f1_macro for {len(task.label_names)}")
    problems += _label_problems(task)
    if len(set(task.metrics)) != len(task.metrics):
        problems.append(f"metrics are listed twice: {list(task.metrics)}")
    if task.main_metric not in task.metrics:
        problems.append(f"main_metric {task.main_metric!r} is not one of the metrics ({', '.join(task.metrics)})")
    problems += _data_problems(task)
    return problems


def _label_problems(task: CustomTask) -> list[str]:
    """``label_range`` (regression) and ``label_ids_start`` (classes named by words): each where it means something."""
    problems = []
    if task.label_range is not None:
        if not task.is_regression:
            problems.append("label_range is for regression tasks (regression: true); drop it")
        elif len(task.label_range) != 2 or not task.label_range[0] < task.label_range[1]:
            problems.append(f"label_range must be [lowest, highest] with lowest < highest, e.g. [1, 5]; "
                            f"got {list(task.label_range)}")
    if task.label_ids_start is not None:
        if task.is_regression:
            problems.append("label_ids_start is for classification tasks; drop it")
        elif task.label_ids_start not in (0, 1):
            problems.append(f"label_ids_start must be 0 or 1 (the class id of the first label name), "
                            f"got {task.label_ids_start}")
        elif any(_is_integer(n) for n in task.label_names):
            problems.append("label_ids_start does not apply: the label_names are numbers, so the file's values "
                            "are matched as names; drop it")
    return problems


def _data_problems(task: CustomTask) -> list[str]:
    if (task.data_files is None) == (task.dataset is None):
        return ["give either data_files (local files) or dataset (a Hub dataset), not both or neither"]
    keys = dict(task.data_files if task.data_files is not None else task.dataset.splits)
    problems = [f"split {key!r} is not one of {', '.join(SPLIT_KEYS)} (the harness's dev split is 'validation')"
                for key in keys if key not in SPLIT_KEYS]
    if task.data_files is not None:
        if not keys:
            problems.append("data_files names no file; give at least validation (or train)")
        for key, file in keys.items():
            if Path(file).suffix.lower() not in FILE_FORMATS:
                problems.append(f"{key} file {file} has an unknown format {Path(file).suffix or '(no suffix)'!r}; "
                                f"use {', '.join(FILE_FORMATS)}")
    return problems


def _is_integer(text: str) -> bool:
    return text.strip().lstrip("+-").isdigit()
