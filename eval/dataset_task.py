"""An in-memory ``datasets.Dataset`` as a task spec: its splits written as parquet beside a ``task.yaml``.

The Python API (``distill.finetune``, ``distill.task``, ``eval.evaluate``) takes a Dataset where the
commands take a task; rather than a second data path, the Dataset becomes an ordinary task spec
(:mod:`eval.task_spec`) that every loader, check and report already reads, and that a run's
``run_config.yaml`` can name, so the run resumes and its record says what it trained on::

    folder/train.parquet, folder/validation.parquet, folder/task.yaml

Labels are written as their names (a ``ClassLabel`` column's names, or the values as text), so the
spec reads them as names and never has to guess where class ids start; float labels make a
regression task.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from eval.core.errors import UserError

SPEC_FILE = "task.yaml"
# A Dataset's split names -> the spec's split keys.
SPLIT_NAMES = {"train": "train", "validation": "validation", "dev": "validation", "test": "test"}


def is_dataset(value: Any) -> bool:
    """Whether ``value`` is a ``datasets.Dataset`` or ``DatasetDict`` (without importing ``datasets``)."""
    return type(value).__module__.startswith("datasets") and hasattr(value, "column_names")


def write_dataset_task(data: Any, folder: str | Path, *, name: str = "dataset", text_columns: Sequence[str] = (),
                       label_column: str = "label", need: Sequence[str] = ("validation",)) -> Path:
    """Write a Dataset's splits and a task spec for them into ``folder``; returns the spec's path.

    Args:
        data: a ``DatasetDict`` (splits ``train``, ``validation`` or ``dev``, ``test``), or one ``Dataset``,
            taken as the validation split.
        name: the task's name in results and reports.
        text_columns: one or two text columns; by default the Dataset's string columns, when there are one or two.
        label_column: the column of labels (class names, ``ClassLabel`` ids or float scores).
        need: the spec split keys the caller reads (training needs ``train`` and ``validation``).

    Raises:
        UserError: a split missing or unknown, no or too many text columns, no label column.
    """
    import yaml

    splits = dict(data) if isinstance(data, Mapping) else {"validation": data}
    unknown = sorted(set(splits) - set(SPLIT_NAMES))
    if unknown:
        raise UserError(f"the dataset has splits {', '.join(unknown)}, which a task does not read; name them "
                        f"{', '.join(sorted(set(SPLIT_NAMES)))}")
    splits = {SPLIT_NAMES[key]: dataset for key, dataset in splits.items()}
    missing = [key for key in need if key not in splits]
    if missing:
        raise UserError(f"the dataset has no {' or '.join(missing)} split; pass a DatasetDict with "
                        f"{', '.join(need)} splits")
    features = next(iter(splits.values())).features
    if label_column not in features:
        raise UserError(f"the dataset has no label column {label_column!r}; its columns are {', '.join(features)} "
                        f"(pass label_column=...)")
    texts = tuple(text_columns) or tuple(c for c, f in features.items()
                                         if c != label_column and getattr(f, "dtype", None) in ("string", "large_string"))
    if not 1 <= len(texts) <= 2 or any(c not in features for c in texts):
        raise UserError(f"cannot tell the dataset's text columns from {', '.join(features)}; pass text_columns=[...] "
                        f"with one or two of them")
    label = features[label_column]
    regression = getattr(label, "dtype", "").startswith("float")
    names = list(getattr(label, "names", None) or [])
    spec: dict[str, Any] = {"name": name, "text_columns": list(texts), "label_column": label_column, "data_files": {}}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    columns_by_split = {}
    for key, dataset in splits.items():
        columns = {c: dataset[c] for c in texts}
        if label_column in dataset.column_names:
            values = dataset[label_column]
            columns[label_column] = (values if regression
                                     else [names[v] if names and isinstance(v, int) else str(v) for v in values])
        columns_by_split[key] = columns
    if regression:
        spec["regression"] = True
    else:  # every name the data spells, in the ClassLabel's order where it has one
        seen = sorted({v for c in columns_by_split.values() for v in c.get(label_column, [])})
        spec["label_names"] = names or seen
    for key, columns in columns_by_split.items():
        _write_parquet(folder / f"{key}.parquet", columns)
        spec["data_files"][key] = f"{key}.parquet"
    path = folder / SPEC_FILE
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(yaml.safe_dump(spec, sort_keys=False))
    os.replace(temporary, path)
    return path


def _write_parquet(path: Path, columns: dict[str, list]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    temporary = path.with_name(path.name + ".tmp")
    pq.write_table(pa.table(columns), temporary)
    os.replace(temporary, path)
