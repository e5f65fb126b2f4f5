"""The examples of one task split: what every loader returns and every consumer reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from eval.glue_tasks import Task
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
