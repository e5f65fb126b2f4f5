"""Atomic file writes and run provenance (library versions, git revision, date, CPU)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

from eval.core.errors import UserError, first_line

_LIBRARIES = ("torch", "transformers", "datasets", "evaluate", "onnxruntime", "onnx",
              "neural-compressor", "numpy")


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write a file so that readers see the old content or the new, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; results and configs are meant to be shared
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# Free space below which a failed write is taken for a full disk (the failed write itself filled it).
FULL_DISK_BYTES = 64 * 2**20


@contextlib.contextmanager
def write_failures(what: str, folder: str | Path) -> Iterator[None]:
    """Report a library's failure to write ``what`` into ``folder`` on a full disk as one line: there,
    ``torch.save`` raises ``RuntimeError`` and safetensors its own error, not ``OSError``.

    Raises:
        UserError: the write failed so and the disk holding ``folder`` is (nearly) full. Other
            failures keep their traceback (``OSError`` passes through: commands name its fix).
    """
    from safetensors import SafetensorError

    try:
        yield
    except (RuntimeError, SafetensorError) as err:
        try:
            full = shutil.disk_usage(folder).free < FULL_DISK_BYTES
        except OSError:
            full = False
        if not full:
            raise
        raise UserError(f"cannot write {what}: {first_line(err)}; the disk is full: free space and re-run the same "
                        f"command (finished work is kept)") from None


def write_json(path: str | Path, obj: Any) -> Path:
    """Atomic, strict JSON: NaN and infinities are refused rather than written as invalid JSON.

    Raises:
        UserError: ``obj`` holds NaN or an infinity (a diverged run, or NaN in the data).
    """
    try:
        text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False)
    except ValueError:
        raise UserError(f"refusing to write {path}: it would hold NaN or Infinity (a diverged run, or "
                        f"NaN in the data); check the inputs and the learning rate") from None
    return write_atomic(path, text + "\n")


def lock_file(folder: str | Path) -> Path:
    """The lock of a folder: a hidden file beside it, so model folders stay clean to ship."""
    folder = Path(folder)
    return folder.parent / f".{folder.name}.lock"


class folder_lock:
    """An exclusive lock on an output folder, released by the kernel even after ``kill -9``.

    Every command that writes a run folder holds it for its whole run, so two commands (or two
    pipelines) never write one folder at once. ``with folder_lock(out):`` creates ``out`` (unless
    ``create`` is false: a command that builds its output elsewhere and moves it in whole). With
    ``wait=True`` a second process waits for the first instead (a shared store that one run builds
    and the others then read). The lock file is removed again on exit, so nothing is left beside the
    folder; a process that locked a file just removed by the previous holder notices (its inode is
    no longer the path's) and locks the new one instead.

    Raises:
        UserError: another process holds the folder (and ``wait`` is false).
    """

    def __init__(self, folder: str | Path, what: str = "run", wait: bool = False, create: bool = True):
        self.folder, self.what, self.wait, self.create = Path(folder), what, wait, create

    def __enter__(self) -> "folder_lock":
        if self.folder.exists() and not self.folder.is_dir():
            raise UserError(f"output {self.folder} is a file; pass a folder to --output-dir")
        if self.create:
            self.folder.mkdir(parents=True, exist_ok=True)
        else:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
        self.path = lock_file(self.folder)
        waited = False
        while True:
            handle = self.path.open("a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                busy = err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
                if not busy or not self.wait:
                    handle.close()
                    if not busy:
                        raise
                    raise UserError(f"another {self.what} is writing {self.folder}; wait for it to finish or use "
                                    f"another --output-dir") from None
                if not waited:
                    print(f"waiting for another {self.what} to finish {self.folder}", file=sys.stderr, flush=True)
                    waited = True
                fcntl.flock(handle, fcntl.LOCK_EX)
            if _same_file(handle, self.path):
                self.handle = handle
                return self
            handle.close()  # the previous holder removed this file on its way out: lock the current one

    def __exit__(self, *exc) -> None:
        try:
            if _same_file(self.handle, self.path):  # still ours: remove it while holding the lock
                self.path.unlink()
        except OSError:  # never hide the run's own error behind a lock file that stays
            pass
        finally:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()


def _same_file(handle, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``handle`` (not removed, not replaced)."""
    try:
        here, there = os.fstat(handle.fileno()), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def share_files(folder: str | Path) -> None:
    """Files 0644 and folders 0755: model folders are meant to be copied, served and shared."""
    folder = Path(folder)
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        path.chmod(0o755 if path.is_dir() else 0o644)


def read_array(path: str | Path, fix: str):
    """A ``.npy`` file memory-mapped read-only, never unpickled (an object array would run code).

    Raises:
        UserError: the file is missing, not a ``.npy`` array of numbers, or truncated; ``fix`` says
            what to do (e.g. delete the store that holds it).
    """
    import numpy as np

    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:  # object dtype, bad header, truncated data
        raise UserError(f"cannot read {path}: {first_line(err)}; {fix}") from None
    if not isinstance(array, np.ndarray) or array.dtype.hasobject:
        raise UserError(f"cannot read {path}: it is not an array of numbers; {fix}")
    return array


def library_versions() -> dict[str, str | None]:
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision() -> str | None:
    """The toolkit's git commit (with ``-dirty`` for uncommitted changes), when run from a clone."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def cpu_features() -> dict[str, Any]:
    """CPU model, core count and the SIMD features INT8 speed depends on (VNNI, AMX)."""
    flags: set[str] = set()
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16")
    return {"model": model, "cores": os.cpu_count(), "machine": platform.machine(),
            "features": [f for f in wanted if f in flags]}


def provenance() -> dict[str, Any]:
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_revision": git_revision(),
        "versions": library_versions(),
        "python": platform.python_version(),
        "cpu": cpu_features(),
    }
