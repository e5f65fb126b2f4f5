"""Atomic output folders: build beside the target, swap it in whole, clean what a kill left.

A command writes into a staging sibling ``.<name>.staging-<token>`` and, once every file is
there, exchanges it with the output folder in one ``renameat2(RENAME_EXCHANGE)`` call, so a
reader (or a ``kill -9`` at any moment) sees the old complete folder or the new complete one. A
first run renames the staging folder into place: the output folder appears only then, complete,
and a run that fails or is killed before leaves no output folder (a killed run's staging folder
is removed by the next run).
The output folder's lock (``eval.core.artifacts.folder_lock``, a file beside the folder that never
moves, removed when the run ends) holds for the whole run, across the swap.
Where the kernel or file system lacks the exchange, two renames are used and a folder left
half-swapped by a kill is put back on the next run.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from eval.core.artifacts import folder_lock
from eval.core.errors import UserError

STAGING, RETIRED = "staging", "retired"
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def sibling(out: Path, kind: str, token: str = "*") -> Path:
    return out.parent / f".{out.name}.{kind}-{token}"


@contextmanager
def staged_output(output_dir: str | Path, marker: str, what: str = "quantize run") -> Iterator[Path]:
    """Hold the output folder's lock, yield an empty staging folder, swap it in on success.

    Args:
        output_dir: the folder the command writes.
        marker: a file only this command's complete outputs hold (``quantization.json``); an
            existing non-empty folder without it is refused, so nobody's other files are replaced.

    Raises:
        UserError: the output is a file, holds unrelated files, or another run holds its lock.
    """
    out = Path(output_dir).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise UserError(f"output {out} is a file; pass a folder to --output-dir")
    if out.parent.exists() and not out.parent.is_dir():
        raise UserError(f"the parent of --output-dir {out} is a file; pass a path inside a folder")
    _recover(out)
    if out.is_dir() and not (out / marker).is_file() and any(out.iterdir()):
        raise UserError(f"output folder {out} is not empty and holds no {marker}; pass an empty or new "
                        f"--output-dir (nothing there was changed)")
    with folder_lock(out, what, create=False):
        clean_leftovers(out)
        staging = sibling(out, STAGING, secrets.token_hex(4))
        try:
            staging.mkdir()
            yield staging
            retired = _swap(staging, out)
            if retired is not None:
                shutil.rmtree(retired, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def clean_leftovers(out: Path) -> None:
    """Remove staging and retired siblings of interrupted runs (call while holding the lock)."""
    for kind in (STAGING, RETIRED):
        for leftover in out.parent.glob(sibling(out, kind).name):
            shutil.rmtree(leftover, ignore_errors=True)


def _swap(staging: Path, out: Path) -> Path | None:
    """Put ``staging`` at ``out``; return where the old folder now is (to delete), ``None`` if there was none."""
    if not out.exists():
        os.rename(staging, out)  # atomic: the output folder appears complete
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    exchange = getattr(libc, "renameat2", None)
    if exchange is not None and exchange(_AT_FDCWD, os.fsencode(staging), _AT_FDCWD, os.fsencode(out),
                                         _RENAME_EXCHANGE) == 0:
        return staging
    code = ctypes.get_errno()
    if exchange is not None and code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        raise OSError(code, os.strerror(code), str(out))
    retired = sibling(out, RETIRED, staging.name.rsplit("-", 1)[-1])
    os.rename(out, retired)
    os.rename(staging, out)  # a kill between the two renames is undone by _recover
    return retired


def _recover(out: Path) -> None:
    """After a kill between the fallback's two renames, the output is missing: put back the new one."""
    if out.exists():
        return
    for retired in out.parent.glob(sibling(out, RETIRED).name):
        staging = sibling(out, STAGING, retired.name.rsplit("-", 1)[-1])
        os.rename(staging if staging.is_dir() else retired, out)
        return
