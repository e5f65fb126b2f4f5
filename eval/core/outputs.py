"""Check where a command will write before it does any work: a file or folder path, apart from its inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from eval.core.errors import UserError


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


# Config fields that name what a command reads (folders, files); a Hub id or alias is not a path
# here and is skipped, as it cannot be written over.
INPUT_FIELDS = ("model", "teacher", "student", "tokenizer", "corpus", "data_dir", "augmented", "unlabeled", "task",
                "calib", "eval_task")


def check_apart(output: str | Path, inputs: Mapping[str, Any], flag: str) -> None:
    """Refuse an output that is, lies inside, or holds one of the command's inputs.

    Writing results into a model folder (``--output M/config.json``) or a model over its teacher
    would destroy an input; paths are compared resolved, so a symlink or ``..`` does not hide it.

    Args:
        inputs: option name -> path (or ``None``, or a name that is no existing path: skipped).

    Raises:
        UserError: naming both paths.
    """
    target = Path(output).expanduser().resolve()
    for name, value in inputs.items():
        if not isinstance(value, (str, Path)) or not str(value):
            continue
        source = Path(value).expanduser()
        if not source.exists():
            continue
        source = source.resolve()
        if target == source or target.is_relative_to(source) or source.is_relative_to(target):
            raise UserError(f"{flag} {output} would write over the input {name} {value} (one holds the other); "
                            f"choose an output outside it")


def check_config_apart(config: Any, output_field: str = "output_dir") -> None:
    """:func:`check_apart` for a command's typed config: its output against every input field it has."""
    inputs = {f"{name}[{i}]" if isinstance(value, tuple) else name: one
              for name in INPUT_FIELDS if hasattr(config, name)
              for value in [getattr(config, name)]
              for i, one in enumerate(value if isinstance(value, tuple) else [value])}
    check_apart(getattr(config, output_field), inputs, f"--{output_field.replace('_', '-')}")
