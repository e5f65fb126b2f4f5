"""Atomic file writes and run provenance (library versions, git revision, date, CPU)."""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from eval.errors import UserError

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
    pipelines) never write one folder at once. ``with folder_lock(out):`` creates ``out``. With
    ``wait=True`` a second process waits for the first instead (a shared store that one run builds
    and the others then read).

    Raises:
        UserError: another process holds the folder (and ``wait`` is false).
    """

    def __init__(self, folder: str | Path, what: str = "run", wait: bool = False):
        self.folder, self.what, self.wait = Path(folder), what, wait

    def __enter__(self) -> "folder_lock":
        if self.folder.exists() and not self.folder.is_dir():
            raise UserError(f"output {self.folder} is a file; pass a folder to --output-dir")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.handle = lock_file(self.folder).open("a")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                self.handle.close()
                raise
            if not self.wait:
                self.handle.close()
                raise UserError(f"another {self.what} is writing {self.folder}; wait for it to finish or use "
                                f"another --output-dir") from None
            print(f"waiting for another {self.what} to finish {self.folder}", file=sys.stderr, flush=True)
            fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


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
