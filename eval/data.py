"""Load the examples of one task split, whatever the task: every task owns its data (``Task.load``).

GLUE registry entries read a local folder in either layout, or the Hub (:mod:`eval.glue_files`); a task
spec's task reads its own files or Hub dataset (:mod:`eval.spec_data`). Both return the same
:class:`GlueData`.
"""

from __future__ import annotations

from pathlib import Path

from eval.examples import GlueData, Task
from eval.glue_files import HUB_DATASET
from eval.glue_files import detect_layout as _detect_layout
from eval.glue_tasks import TASKS

__all__ = ["HUB_DATASET", "GlueData", "detect_layout", "load_split"]  # GlueData lives in eval.examples


def load_split(task: Task, split: str, data_dir: str | Path | None = None) -> GlueData:
    """Load one split of a task: ``task.load(split, data_dir)``.

    Args:
        task: a GLUE registry entry, or a task spec's task (which names its own files).
        split: ``train``, ``dev`` or ``test``.
        data_dir: root of a local GLUE copy in either layout (``glue_data/`` TSV folders or the
            Hub's ``<config>/<split>-*.parquet`` files); ``None`` downloads from the Hub. Task
            specs ignore it.

    Raises:
        UserError: the split does not exist, the folder or file is missing, a file is malformed
            (encoding, columns, labels, empty texts for task specs), or the Hub is unreachable.
    """
    return task.load(split, data_dir)


def detect_layout(root: Path) -> str:
    """Say whether ``root`` is a classic ``glue_data`` folder (``"tsv"``) or a parquet copy of GLUE."""
    return _detect_layout(root, TASKS.values())
