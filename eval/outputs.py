"""Check where a command will write before it does any work: a file path, or a folder path."""

from __future__ import annotations

from pathlib import Path

from eval.errors import UserError


def check_output_path(path: str | Path, folder: bool, flag: str) -> Path:
    """Return ``path`` if a file (``folder=False``) or a folder can be written there.

    Args:
        flag: the option that gave the path, for the message (``--output``, ``--output-dir``).

    Raises:
        UserError: a file where the folder should be, a folder where the file should be, or a
            file among the parent folders.
    """
    path = Path(path).expanduser()
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{flag} {path}: {parent} is a file, not a folder; choose a path inside a folder")
            break
    if folder and path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file; pass a folder")
    if not folder and path.is_dir():
        raise UserError(f"{flag} {path} is a folder; pass a file path, e.g. {path / 'results.json'}")
    return path
