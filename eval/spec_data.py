"""Load one split of a task spec's data (CSV, TSV, JSON, JSONL, parquet, or a Hub dataset) through ``datasets``.

Every file format ends as the same columns, which :mod:`eval.labels` turns into texts, class ids
or scores, so one dataset given as CSV, JSONL or parquet loads identically. Whatever is wrong
with a file is one error naming the file, and the row or column where it applies: a missing
file or column (the message lists the columns there are), an empty split, an unreadable file,
a bad label, an empty text.

``.tsv`` is read as GLUE's TSVs are: tab-separated with no quoting (a quote character is text);
use ``.csv`` for files whose fields are quoted.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Protocol

from eval.core.console import quiet_loading
from eval.core.errors import UserError, first_line
from eval.core.text_files import check_text_file
from eval.examples import GlueData, Task
from eval.labels import LabelScheme, read_labels, read_texts

# File suffix -> format name; BUILDERS says how `datasets` reads each.
FILE_FORMATS: Mapping[str, str] = MappingProxyType({
    ".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"})
# Format name -> the ``datasets`` builder that reads it and its options.
# CSV and TSV cells are text as written: "NA", "null" or "None" is a review or a class name, not a
# missing value (pandas' default); an empty cell is still reported as missing.
BUILDERS: Mapping[str, tuple[str, Mapping[str, Any]]] = MappingProxyType({
    "csv": ("csv", {"keep_default_na": False}),
    "tsv": ("csv", {"delimiter": "\t", "quoting": csv.QUOTE_NONE, "keep_default_na": False}),
    "json": ("json", {}),
    "parquet": ("parquet", {}),
})
_TEXT_FORMATS = ("csv", "tsv", "json")
_NO_ROWS = "corresponds to no data"  # how datasets refuses a file with a header and no rows
# What the Hub accepts as a dataset id: ``name`` or ``owner/name``, letters, digits, '-', '_', '.'.
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?")


@dataclass(frozen=True)
class DataSplit:
    """Where one split of a custom task lives: a local file, or a split of a Hub dataset.

    ``labeled`` says whether labels are required (train and validation); a test file may omit
    the label column, and is read with labels when it has it.
    """

    key: str  # the spec's name for it: train, validation or test
    file: str | None = None
    hub_split: str | None = None
    labeled: bool = True
    dataset: str | None = None  # for a Hub split: path[/config]

    @property
    def where(self) -> str:
        return self.file or f"hub:{self.dataset} ({self.hub_split})"


def file_format(path: str) -> str:
    """The format name of a data file, from its suffix (checked when the spec was read)."""
    return FILE_FORMATS[Path(path).suffix.lower()]


class SpecTask(Task, Protocol):
    """What the readers read from a task spec's task (:class:`eval.task_spec.CustomTask`)."""

    label_column: str
    id_column: str | None
    allow_empty_text: bool
    data_files: Mapping[str, str] | None
    dataset: Any  # eval.task_spec.HubDataset, or None when the spec names files
    label_ids_start: int | None

    def label_scheme(self) -> LabelScheme: ...


def load_spec_split(task: SpecTask, split: str):
    """The examples of one split of a custom task as :class:`eval.data.GlueData`.

    Raises:
        UserError: the file is missing, unreadable, empty, lacks a column, or holds a bad label
            or an empty text (each named with its row).
    """
    where = task.split(split)
    columns = _read_columns(task, where)
    source = where.where
    missing = [c for c in (*task.text_columns, *([task.id_column] if task.id_column else [])) if c not in columns]
    if where.labeled and task.label_column not in columns:
        missing.append(task.label_column)
    if missing:
        raise UserError(f"{source} has no column {', '.join(map(repr, missing))}; its columns are "
                        f"{', '.join(columns) or 'none'} (fix text_columns / label_column / id_column in {task.spec})")
    count = len(columns[task.text_columns[0]])
    if count == 0:
        raise UserError(f"{source} has no rows: the {where.key} split of task {task.name} is empty")
    texts = read_texts([columns[c] for c in task.text_columns], task.text_columns, source,
                       fill_missing=task.allow_empty_text, empty_fix=f"set allow_empty_text: true in {task.spec}")
    labels = None
    if task.label_column in columns:
        check_id_start(columns[task.label_column], task, source)
        labels = read_labels(columns[task.label_column], task.label_scheme(), source)
    indices = _ids(columns[task.id_column], task.id_column, source) if task.id_column else list(range(1, count + 1))
    return GlueData(task, split, texts, labels, indices, source)


def check_id_start(values: list, task: SpecTask, source: str) -> None:
    """Refuse to guess where a file's integer class ids start: labels 1 and 2 of three classes could
    be the 2nd and 3rd class (ids from 0) or the 1st and 2nd (ids from 1). With no 0 among them,
    the spec must say (``label_ids_start``); values that are label names are never ids. A Hub
    dataset's ids are its ``ClassLabel`` ids, which count from 0.

    Raises:
        UserError: integer labels without a 0 and no ``label_ids_start``, naming both ways to read them.
    """
    scheme = task.label_scheme()
    if task.label_ids_start is not None or not scheme.ids or task.data_files is None:
        return
    ids = sorted({int(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
                  and float(v).is_integer()})
    if ids and 0 not in ids:
        shown = ", ".join(map(str, ids[:6])) + (", ..." if len(ids) > 6 else "")
        names = task.label_names

        def meaning(position: int) -> str:
            return repr(names[position]) if 0 <= position < len(names) else "no class"

        raise UserError(f"the labels of {source} are class ids {shown} with no 0, so they may count from 1; set "
                        f"label_ids_start: 1 in {task.spec} if {ids[0]} is {meaning(ids[0] - 1)}, or "
                        f"label_ids_start: 0 if it is {meaning(ids[0])}")


def _ids(values: list, column: str, source: str) -> list:
    """The id column's values, which must be present and unique (they key the prediction rows)."""
    missing = [row for row, value in enumerate(values, 1)
               if value is None or value != value or value == ""]  # NaN != NaN; "" is an empty CSV cell
    if missing:
        raise UserError(f"id column {column!r} is empty in {len(missing)} of {len(values)} rows of {source} (first: row "
                        f"{missing[0]}); fill them or drop id_column")
    first: dict = {}
    for row, value in enumerate(values, 1):
        if value in first:
            raise UserError(f"id {value!r} is in rows {first[value]} and {row} of {source}; ids in "
                            f"{column!r} must be unique")
        first[value] = row
    return list(values)


def _read_columns(task: SpecTask, where: DataSplit) -> dict[str, list]:
    if where.file is not None:
        return _read_file(Path(where.file), where.key, task)
    return _read_hub(task, where)


def _read_file(path: Path, key: str, task: SpecTask) -> dict[str, list]:
    if not path.is_file():
        raise UserError(f"the {key} file {path} of task {task.name} does not exist; fix data_files in {task.spec}")
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty: the {key} split of task {task.name} has no rows")
    fmt = file_format(str(path))
    if fmt in _TEXT_FORMATS:
        check_text_file(path, f"{key} file")
    if fmt in ("csv", "tsv"):
        _check_row_widths(path, fmt)
    builder, options = BUILDERS[fmt]
    import datasets

    try:
        with quiet_loading(datasets):
            dataset = datasets.load_dataset(builder, data_files={key: str(path)}, split=key, **options)
    except Exception as err:  # datasets wraps pandas / pyarrow errors of many types
        if _NO_ROWS in str(err):
            raise UserError(f"{path} has no rows: the {key} split of task {task.name} is empty") from None
        raise UserError(f"cannot read {path} as {fmt.upper()}: {_cause(err)}; check that it is a valid "
                        f"{fmt.upper()} file") from None
    return dataset.to_dict()


def _check_row_widths(path: Path, fmt: str) -> None:
    """Every row of a CSV or TSV has as many fields as its header. ``datasets`` (pandas) would read a
    first row with an extra field as an index column, shifting every value, and report a later one
    by its line number; here the row is named (rows count from 1 after the header, as everywhere).

    Raises:
        UserError: the first row whose field count differs from the header's.
    """
    options = dict(BUILDERS[fmt][1])
    dialect = {"delimiter": options.get("delimiter", ","), **({"quoting": csv.QUOTE_NONE} if fmt == "tsv" else {})}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = (row for row in csv.reader(handle, **dialect) if row)  # blank lines are skipped, as pandas does
        header = next(rows, None)
        if header is None:
            return
        for number, row in enumerate(rows, 1):
            if len(row) != len(header):
                hint = "; quote fields that hold a comma" if fmt == "csv" and len(row) > len(header) else ""
                raise UserError(f"row {number} of {path} has {len(row)} fields but its header has {len(header)} "
                                f"({', '.join(header)}); fix that row{hint}")


def _read_hub(task: SpecTask, where: DataSplit) -> dict[str, list]:
    import datasets

    hub = task.dataset
    if not Path(hub.path).expanduser().exists() and (not HUB_ID.fullmatch(hub.path) or "--" in hub.path
                                                     or ".." in hub.path):
        raise UserError(f"dataset {hub.path!r} of task {task.name} is not a local folder and not a Hub id "
                        f"(name or owner/name); fix dataset.path in {task.spec}, or use data_files with local copies")
    try:
        with quiet_loading(datasets):
            dataset = datasets.load_dataset(hub.path, hub.name, split=where.hub_split)
    except Exception as err:  # offline, no such dataset, config or split: one line and the way out
        raise UserError(f"cannot load {where.dataset} ({where.hub_split}) for task {task.name}: {_cause(err)}; "
                        f"check dataset in {task.spec}, or use data_files with local copies") from None
    return dataset.to_dict()


def _cause(err: BaseException) -> str:
    """The first line of the innermost explicit cause: ``datasets`` wraps the parser's own message."""
    while err.__cause__ is not None:
        err = err.__cause__
    return first_line(err)
