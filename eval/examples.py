"""The examples of one task split (what every task's ``load`` returns and every consumer reads), and
the task protocol itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Protocol

from eval.labels import Label


@dataclass(frozen=True)
class GlueData:
    """The examples of one task split.

    Attributes:
        texts: one tuple per example, one string per text column (one or two).
        labels: class ids (float scores for regression), or ``None`` for an unlabeled split.
        indices: the example ids that prediction files use (a task spec's ``id_column`` may
            hold strings).
        source: where the data came from (a file path or ``hub:nyu-mll/glue``).
    """

    task: Task
    split: str
    texts: list[tuple[str, ...]]
    labels: list[Label] | None
    indices: list[int | str]
    source: str

    def __len__(self) -> int:
        return len(self.texts)

    def select(self, count: int) -> "GlueData":
        """The first ``count`` examples (for calibration sets and smoke runs)."""
        return self.subset(range(min(count, len(self))))

    def subset(self, rows: Iterable[int]) -> "GlueData":
        """The examples at positions ``rows``, in that order (a sample of a split)."""
        rows = list(rows)
        return GlueData(self.task, self.split, [self.texts[r] for r in rows],
                        None if self.labels is None else [self.labels[r] for r in rows],
                        [self.indices[r] for r in rows], self.source)


class Task(Protocol):
    """What the toolkit reads from a task: a GLUE registry entry or a task spec's :class:`CustomTask`.

    A task owns its data: ``load`` returns the examples of one split, wherever they live.
    """

    name: str
    display_name: str
    text_columns: tuple[str, ...]
    label_names: tuple[str, ...]  # empty for regression
    metrics: tuple[str, ...]
    main_metric: str
    score_group: str | None  # None: not counted in the GLUE Score
    is_glue: bool
    spec: str | None  # the task spec file, None for GLUE tasks

    @property
    def is_regression(self) -> bool: ...

    @property
    def num_labels(self) -> int: ...

    def split(self, name: str) -> Any: ...

    def load(self, split: str, data_dir: str | Path | None = None) -> "GlueData":
        """The examples of one split (``train``, ``dev`` or ``test``); ``data_dir`` is the root of a
        local GLUE copy for GLUE tasks (``None``: the Hub) and ignored by task specs, whose spec
        names their files."""
        ...
