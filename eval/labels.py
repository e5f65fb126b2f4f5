"""Read the label and text columns of a data file into class ids, scores and text tuples, naming bad rows.

Every loader (GLUE TSV, GLUE parquet or Hub, a task spec's files) funnels its columns through
:func:`read_labels` and :func:`read_texts`, so a label outside the task's classes, a missing or
NaN label, text in a regression column and a missing text are each one error that names the
value and its row, never a silent wrong result or a traceback. Rows count from 1, header excluded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from eval.core.errors import UserError

Label = int | float


@dataclass(frozen=True)
class LabelScheme:
    """How one kind of file spells a task's labels.

    Attributes:
        num_labels: number of classes; 0 for a regression task (float scores).
        names: label spellings in the file -> class id (TSV strings, a task spec's label names).
        ids: integers ``id_start..id_start+num_labels-1`` in the file are class ids (Hub and
            parquet layouts count from 0; a task spec may count from 1).
        expected: how messages describe the accepted values (``"0, 1"``, ``"class ids 0-2"``).
        id_start: the file's id of class 0.
        score_range: regression: the lowest and highest valid score (``None``: any finite number).
        range_fix: where ``score_range`` is set, for messages (``label_range in task.yaml``).
    """

    num_labels: int
    names: Mapping[str, int] = field(default_factory=dict)
    ids: bool = False
    expected: str = ""
    id_start: int = 0
    score_range: tuple[float, float] | None = None
    range_fix: str = ""

    @property
    def regression(self) -> bool:
        return self.num_labels == 0


def read_labels(values: Sequence[Any], scheme: LabelScheme, where: str,
                rows: Sequence[int] | None = None) -> list[Label]:
    """Class ids (or float32-rounded scores for regression), one per value.

    Args:
        values: the label column as read (strings, numbers, ``None``).
        where: the file or source, for messages.
        rows: each value's row number in the file (default 1, 2, ...).

    Raises:
        UserError: naming the first bad value and its row, and how many rows are bad.
    """
    rows = rows if rows is not None else range(1, len(values) + 1)
    convert = _score if scheme.regression else _class_id
    labels: list[Label] = []
    problems: list[tuple[int, Any, str]] = []
    for row, value in zip(rows, values):
        label, problem = convert(value, scheme)
        if problem:
            problems.append((row, value, problem))
        labels.append(label)
    if problems:
        row, value, problem = problems[0]
        more = f" ({len(problems)} rows have bad labels)" if len(problems) > 1 else ""
        subject = (f"row {row} of {where} has no label (empty, null or NaN)" if problem == "missing"
                   else f"label {_show(value)} at row {row} of {where} {problem}")
        raise UserError(f"{subject}{more}; fix or drop those rows")
    return labels


def read_texts(columns: Sequence[Sequence[Any]], names: Sequence[str], where: str,
               allow_empty: bool = False, fill_missing: bool = False, empty_fix: str = "") -> list[tuple[str, ...]]:
    """One tuple of strings per row from the text columns.

    Args:
        allow_empty: empty or blank strings are texts (GLUE has a few); a missing cell is still an error.
        fill_missing: missing cells too (``None``, NaN: an empty CSV cell, a JSON null) are read as
            empty strings (a task spec's ``allow_empty_text``).
        empty_fix: another way out, named by the error on an empty cell (``set allow_empty_text: true in ...``).

    Raises:
        UserError: a column holds something other than text (numbers), or, unless
            ``allow_empty``, is empty (or missing) in some rows; the message says how many.
    """
    read = []
    for name, column in zip(names, columns):
        kinds = {type(v).__name__ for v in column if v is not None and not isinstance(v, str)
                 and not _is_nan(v)}
        if kinds:
            raise UserError(f"text column {name!r} of {where} holds {', '.join(sorted(kinds))} values, not "
                            f"text; name a text column in text_columns")
        if fill_missing:
            read.append([v if isinstance(v, str) else "" for v in column])
            continue
        empty = [i for i, v in enumerate(column, 1) if not isinstance(v, str) or (not allow_empty and not v.strip())]
        if empty:
            fix = f"fill or drop those rows{f', or {empty_fix}' if empty_fix else ''}"
            raise UserError(f"text column {name!r} is empty in {len(empty)} of {len(column)} rows of {where} "
                            f"(first: row {empty[0]}); {fix}")
        read.append(column)
    return list(zip(*read))


def _class_id(value: Any, scheme: LabelScheme) -> tuple[int, str]:
    if value is None or _is_nan(value) or value == "":
        return 0, "missing"
    if isinstance(value, (bool, np.bool_)):  # a CSV column of True/False is read as booleans
        value = str(bool(value))
        value = value if value in scheme.names else value.lower()
    if isinstance(value, str):
        if value in scheme.names:
            return scheme.names[value], ""
        return 0, f"is not one of {scheme.expected}"
    if not _is_integral(value):
        return 0, f"is not one of {scheme.expected}"
    number = int(value)
    if str(number) in scheme.names:
        return scheme.names[str(number)], ""
    if scheme.ids and 0 <= number - scheme.id_start < scheme.num_labels:
        return number - scheme.id_start, ""
    return 0, f"is not one of {scheme.expected}"


def _score(value: Any, scheme: LabelScheme) -> tuple[float, str]:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return 0.0, "missing"
    if isinstance(value, (bool, np.bool_)):
        return 0.0, "is not a number; a regression task's labels are scores"
    try:
        # The Hub stores STS-B scores as float32; rounding every score the same way gives
        # bit-identical labels and metrics whichever file format holds them.
        number = float(np.float32(value.strip() if isinstance(value, str) else value))
    except (TypeError, ValueError):
        return 0.0, "is text, not a number; a regression task's labels are scores"
    if not math.isfinite(number):
        return 0.0, "is not a finite number"
    low, high = scheme.score_range or (-math.inf, math.inf)
    if not low <= number <= high:
        return 0.0, f"is outside [{low:g}, {high:g}] ({scheme.range_fix or 'label_range'})"
    return number, ""


def _is_nan(value: Any) -> bool:
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _is_integral(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating))
                                                    and math.isfinite(value) and float(value).is_integer())


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)
