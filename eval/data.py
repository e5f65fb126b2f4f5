"""Load the examples of one GLUE split from a local folder (TSV or parquet layout) or the Hub.

All three sources give the same :class:`GlueData`: the same texts, the same class ids (in the
Hub's label order, see :mod:`eval.tasks`) and the same example indices, so a model scores
identically whichever copy of GLUE it reads.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.errors import UserError, first_line
from eval.tasks import TASKS, GlueTask, TsvFormat

log = logging.getLogger(__name__)

HUB_DATASET = "nyu-mll/glue"
Label = int | float


@dataclass(frozen=True)
class GlueData:
    """The examples of one task split.

    Attributes:
        texts: one tuple per example, one string per text column (one or two).
        labels: class ids (float scores for STS-B), or ``None`` for an unlabeled split.
        indices: the example ids that submission files use.
        source: where the data came from (a file path or ``hub:nyu-mll/glue``).
    """

    task: GlueTask
    split: str
    texts: list[tuple[str, ...]]
    labels: list[Label] | None
    indices: list[int]
    source: str

    def __len__(self) -> int:
        return len(self.texts)

    def select(self, count: int) -> "GlueData":
        """The first ``count`` examples (for calibration sets and smoke runs)."""
        return GlueData(self.task, self.split, self.texts[:count],
                        None if self.labels is None else self.labels[:count],
                        self.indices[:count], self.source)


def load_split(task: GlueTask, split: str, data_dir: str | Path | None = None) -> GlueData:
    """Load one split of a task.

    Args:
        task: the task's registry entry.
        split: ``train``, ``dev`` or ``test``.
        data_dir: root of a local GLUE copy in either layout (``glue_data/`` TSV folders or the
            Hub's ``<config>/<split>-*.parquet`` files); ``None`` downloads from the Hub.

    Raises:
        UserError: the folder or file is missing, a file is malformed, or the Hub is unreachable.
    """
    task.split(split)  # validates the split name
    if data_dir is None:
        return _load_hub(task, split)
    root = Path(data_dir).expanduser()
    layout = detect_layout(root)
    return _load_tsv(task, split, root) if layout == "tsv" else _load_parquet(task, split, root)


def detect_layout(root: Path) -> str:
    """Say whether ``root`` is a classic ``glue_data`` folder (``"tsv"``) or a parquet copy."""
    if not root.is_dir():
        raise UserError(f"GLUE data folder {root} does not exist; pass --data-dir with the root of "
                        f"a glue_data/ (TSV) or nyu-mll/glue (parquet) copy, or omit it to use the Hub")
    names = {p.name for p in root.iterdir() if p.is_dir()}
    if names & {t.tsv_dir for t in TASKS.values()}:
        return "tsv"
    if any(any((root / n).rglob("*.parquet")) for n in names & {t.hub_config for t in TASKS.values()}):
        return "parquet"
    raise UserError(f"{root} is not a GLUE data folder: expected task folders such as SST-2/ "
                    f"(glue_data TSV layout) or sst2/*.parquet (Hub parquet layout)")


def _load_tsv(task: GlueTask, split: str, root: Path) -> GlueData:
    path = root / task.tsv_dir / task.split(split).tsv_file
    if not path.is_file():
        raise UserError(f"missing GLUE file {path}; the {task.display_name} {split} split is not in "
                        f"this copy of glue_data (use another --data-dir, or the Hub)")
    fmt = task.tsv_format(split)
    # utf-8-sig drops the byte-order mark that starts MRPC's dev.tsv; quoting must be off
    # because sentences contain unbalanced quote characters.
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = rows.pop(0) if fmt.header and rows else None
    column = _column_resolver(fmt, header, path)
    width = len(header) if header else max((len(r) for r in rows), default=0)

    texts, labels, indices, skipped = [], [], [], 0
    for row_number, row in enumerate(rows):
        if len(row) != width:
            skipped += 1  # a handful of QQP rows are broken in the original release
            continue
        texts.append(tuple(row[column(c)] for c in fmt.texts))
        if fmt.label is not None:
            labels.append(_parse_label(task, row[column(fmt.label)], path))
        indices.append(int(row[column(fmt.index)]) if fmt.index is not None else row_number)
    if skipped:
        log.warning("%s: skipped %d malformed rows (wrong number of columns)", path, skipped)
    if not texts:
        raise UserError(f"GLUE file {path} has no examples")
    return GlueData(task, split, texts, labels if fmt.label is not None else None, indices, str(path))


def _column_resolver(fmt: TsvFormat, header: list[str] | None, path: Path):
    if header is None:
        return lambda c: c
    positions = {name: i for i, name in enumerate(header)}
    wanted = [c for c in (*fmt.texts, fmt.label, fmt.index) if c is not None]
    missing = [c for c in wanted if c not in positions]
    if missing:
        raise UserError(f"GLUE file {path} lacks columns {missing}; found {header}")
    return positions.__getitem__


def _parse_label(task: GlueTask, value: str, path: Path) -> Label:
    if task.is_regression:
        return _score(value)
    try:
        return task.tsv_labels.index(value)
    except ValueError:
        raise UserError(f"GLUE file {path} has label {value!r}, not one of {task.tsv_labels} "
                        f"for {task.display_name}") from None


def _score(value: str | float) -> float:
    # The Hub stores STS-B scores as float32; round TSV scores the same way so both layouts
    # give bit-identical labels and metrics.
    return float(np.float32(value))


def _load_parquet(task: GlueTask, split: str, root: Path) -> GlueData:
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
    return _from_columns(task, split, rows, str(files[0] if len(files) == 1 else folder))


def _load_hub(task: GlueTask, split: str) -> GlueData:
    import datasets

    hub_split = task.split(split).hub_split
    try:
        dataset = datasets.load_dataset(HUB_DATASET, task.hub_config, split=hub_split)
    except Exception as err:  # offline, no such config, ... : one line, and the way out
        raise UserError(f"cannot load {HUB_DATASET}/{task.hub_config} ({hub_split}) from the Hub: "
                        f"{first_line(err)}; pass --data-dir with a local GLUE folder") from None
    return _from_columns(task, split, dataset.to_dict(), f"hub:{HUB_DATASET}")


def _from_columns(task: GlueTask, split: str, columns: dict[str, list], source: str) -> GlueData:
    missing = [c for c in task.text_columns if c not in columns]
    if missing:
        raise UserError(f"{source} lacks text columns {missing} for {task.display_name}")
    texts = list(zip(*(columns[c] for c in task.text_columns)))
    labeled = task.split(split).labeled and "label" in columns
    labels: list[Label] | None = None
    if labeled:
        cast = _score if task.is_regression else int
        labels = [cast(v) for v in columns["label"]]
    indices = [int(i) for i in columns.get("idx", range(len(texts)))]
    if not texts:
        raise UserError(f"{source} has no examples for {task.display_name} {split}")
    return GlueData(task, split, texts, labels, indices, source)

