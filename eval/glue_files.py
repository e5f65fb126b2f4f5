"""Read one split of a GLUE task from a local folder (TSV or parquet layout) or the Hub.

All three sources give the same :class:`GlueData`: the same texts, the same class ids (in the
Hub's label order, see :mod:`eval.glue_tasks`) and the same example indices, so a model scores
identically whichever copy of GLUE it reads. Labels go through :mod:`eval.labels`, so a label
outside the task's classes, a NaN or a word where a score belongs is an error naming its row.

The registry entries (:class:`eval.glue_tasks.GlueTask`) call :func:`load_glue` from their ``load``;
this module reads the fields :class:`GlueEntry` names and imports nothing of the registry. It owns the
file-side descriptions the registry fills in: :class:`TsvFormat` and :class:`Split`.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol

from eval.core.console import quiet_loading
from eval.core.errors import UserError, first_line
from eval.core.text_files import check_text_file, decode_error
from eval.examples import GlueData, Task
from eval.labels import LabelScheme, read_labels, read_texts

__all__ = ["HUB_DATASET", "Split", "TsvFormat", "detect_layout", "load_glue"]

log = logging.getLogger(__name__)

HUB_DATASET = "nyu-mll/glue"

Column = str | int  # a header name, or a column index for files without a header (CoLA)


@dataclass(frozen=True)
class TsvFormat:
    """Where the fields are in one kind of GLUE TSV file."""

    texts: tuple[Column, ...]
    label: Column | None = None
    index: Column | None = None
    header: bool = True


@dataclass(frozen=True)
class Split:
    """One split of a task: its TSV file name, its Hub split name, and whether it has labels."""

    tsv_file: str
    hub_split: str
    labeled: bool = True


class GlueEntry(Task, Protocol):
    """What the readers read from a GLUE registry entry (:class:`eval.glue_tasks.GlueTask`)."""

    hub_config: str
    tsv_dir: str
    tsv_labels: tuple[str, ...]

    def tsv_format(self, split: str) -> TsvFormat: ...


def load_glue(task: GlueEntry, split: str, data_dir: str | Path | None, tasks: Iterable[GlueEntry]) -> GlueData:
    """One split of a GLUE task: from the local copy at ``data_dir`` in either layout (``tasks``, the
    registry, tells the layouts apart), or from the Hub when ``data_dir`` is ``None``.

    Raises:
        UserError: the folder or file is missing, a file is malformed (encoding, columns, labels),
            or the Hub is unreachable.
    """
    if data_dir is None:
        return _load_hub(task, split)
    root = Path(data_dir).expanduser()
    layout = detect_layout(root, tasks)
    return _load_tsv(task, split, root) if layout == "tsv" else _load_parquet(task, split, root)


def detect_layout(root: Path, tasks: Iterable[GlueEntry]) -> str:
    """Say whether ``root`` is a classic ``glue_data`` folder (``"tsv"``) or a parquet copy of ``tasks``."""
    tasks = list(tasks)
    if root.is_file():
        raise UserError(f"--data-dir {root} is a file; pass a folder: the root of a glue_data/ (TSV) or "
                        f"nyu-mll/glue (parquet) copy")
    if not root.is_dir():
        raise UserError(f"GLUE data folder {root} does not exist; pass --data-dir with the root of "
                        f"a glue_data/ (TSV) or nyu-mll/glue (parquet) copy, or omit it to use the Hub")
    names = {p.name for p in root.iterdir() if p.is_dir()}
    if names & {t.tsv_dir for t in tasks}:
        return "tsv"
    if any(any((root / n).rglob("*.parquet")) for n in names & {t.hub_config for t in tasks}):
        return "parquet"
    raise UserError(f"{root} is not a GLUE data folder: expected task folders such as SST-2/ "
                    f"(glue_data TSV layout) or sst2/*.parquet (Hub parquet layout)")


def _load_tsv(task: GlueEntry, split: str, root: Path) -> GlueData:
    path = root / task.tsv_dir / task.split(split).tsv_file
    if not path.is_file():
        raise UserError(f"missing GLUE file {path}; the {task.display_name} {split} split is not in "
                        f"this copy of glue_data (use another --data-dir, or the Hub)")
    fmt = task.tsv_format(split)
    rows = _read_tsv(path)
    header = rows.pop(0) if fmt.header and rows else None
    column = _column_resolver(fmt, header, path)
    width = len(header) if header else max((len(r) for r in rows), default=0)
    # a handful of QQP rows are broken in the original release: skip rows of the wrong width
    kept = [(number, row) for number, row in enumerate(rows, 1) if len(row) == width]
    if len(kept) < len(rows):
        log.warning("%s: skipped %d malformed rows (wrong number of columns)", path, len(rows) - len(kept))
    if not kept:
        raise UserError(f"GLUE file {path} has no examples")
    numbers = [number for number, _ in kept]
    texts = read_texts([[row[column(c)] for _, row in kept] for c in fmt.texts], fmt.texts, str(path),
                       allow_empty=True)
    labels = None
    if fmt.label is not None:
        labels = read_labels([row[column(fmt.label)] for _, row in kept], _tsv_scheme(task), str(path), numbers)
    indices = ([_index(row[column(fmt.index)], number, path) for number, row in kept] if fmt.index is not None
               else [number - 1 for number in numbers])
    return GlueData(task, split, texts, labels, indices, str(path))


def _read_tsv(path: Path) -> list[list[str]]:
    check_text_file(path, "GLUE file")
    # utf-8-sig drops the byte-order mark that starts MRPC's dev.tsv; quoting must be off
    # because sentences contain unbalanced quote characters.
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    except UnicodeDecodeError as err:
        raise decode_error(path, "GLUE file", err) from None
    except csv.Error as err:
        raise UserError(f"GLUE file {path} is not a readable TSV: {err}") from None


def _index(value, row: int, path: Path | str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UserError(f"index {value!r} at row {row} of {path} is not an integer; fix or drop that row") from None


def _column_resolver(fmt: TsvFormat, header: list[str] | None, path: Path):
    if header is None:
        return lambda c: c
    positions = {name: i for i, name in enumerate(header)}
    wanted = [c for c in (*fmt.texts, fmt.label, fmt.index) if c is not None]
    missing = [c for c in wanted if c not in positions]
    if missing:
        raise UserError(f"GLUE file {path} lacks columns {missing}; found {header}")
    return positions.__getitem__


def _tsv_scheme(task: GlueEntry) -> LabelScheme:
    """GLUE TSVs spell classes as ``tsv_labels`` ("0"/"1", "entailment", ...); STS-B holds scores."""
    if task.is_regression:
        return LabelScheme(0, expected="a number")
    return LabelScheme(task.num_labels, {name: i for i, name in enumerate(task.tsv_labels)},
                       expected=f"the {task.display_name} labels {', '.join(task.tsv_labels)}")


def _hub_scheme(task: GlueEntry) -> LabelScheme:
    """The Hub and its parquet files hold class ids in ``label_names`` order (floats for STS-B)."""
    if task.is_regression:
        return LabelScheme(0, expected="a number")
    return LabelScheme(task.num_labels, ids=True, expected=f"the {task.display_name} class ids 0-"
                       f"{task.num_labels - 1} ({', '.join(task.label_names)})")


def _load_parquet(task: GlueEntry, split: str, root: Path) -> GlueData:
    import pyarrow.parquet as pq

    hub_split = task.split(split).hub_split
    folder = root / task.hub_config
    # The Hub's layout is <config>/<split>-00000-of-00001.parquet; its refs/convert/parquet
    # branch uses <config>/<split>/0000.parquet. Accept both, shards in order.
    files = sorted(folder.glob(f"{hub_split}-*.parquet")) or sorted(folder.glob(f"{hub_split}/*.parquet"))
    if not files:
        raise UserError(f"missing GLUE parquet files {folder}/{hub_split}-*.parquet; the "
                        f"{task.display_name} {split} split is not in this copy (use another --data-dir, or the Hub)")
    try:
        tables = [pq.read_table(f) for f in files]
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise UserError(f"cannot read parquet file in {folder}: {err}") from None
    rows = {name: [v for t in tables for v in t.column(name).to_pylist()]
            for name in (*task.text_columns, "label", "idx") if name in tables[0].column_names}
    return _from_columns(task, split, rows, str(files[0] if len(files) == 1 else folder),
                         all_columns=tables[0].column_names)


def _load_hub(task: GlueEntry, split: str) -> GlueData:
    import datasets

    hub_split = task.split(split).hub_split
    try:
        with quiet_loading(datasets):  # an unreachable Hub: one error line, not a retry log
            dataset = datasets.load_dataset(HUB_DATASET, task.hub_config, split=hub_split)
    except Exception as err:  # offline, no such config, ... : one line, and the way out
        raise UserError(f"cannot load {HUB_DATASET}/{task.hub_config} ({hub_split}) from the Hub: "
                        f"{first_line(err)}; pass --data-dir with a local GLUE folder") from None
    return _from_columns(task, split, dataset.to_dict(), f"hub:{HUB_DATASET}")


def _from_columns(task: GlueEntry, split: str, columns: dict[str, list], source: str,
                  all_columns: list[str] | None = None) -> GlueData:
    """``all_columns``: every column the source has, when ``columns`` holds only those read."""
    missing = [c for c in task.text_columns if c not in columns]
    if missing:
        raise UserError(f"{source} lacks text columns {missing} for {task.display_name}; its columns are "
                        f"{', '.join(all_columns if all_columns is not None else columns) or 'none'}")
    texts = read_texts([columns[c] for c in task.text_columns], task.text_columns, source, allow_empty=True)
    labeled = task.split(split).labeled and "label" in columns
    labels = read_labels(columns["label"], _hub_scheme(task), source) if labeled else None
    indices = [_index(i, row, source) for row, i in enumerate(columns.get("idx", range(len(texts))), 1)]
    if not texts:
        raise UserError(f"{source} has no examples for {task.display_name} {split}")
    return GlueData(task, split, texts, labels, indices, source)

