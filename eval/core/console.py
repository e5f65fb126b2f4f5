"""What every command shares: quiet third-party start-up noise, one-line errors, exit codes."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, NoReturn

from eval.core.errors import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

# File-system failures every command can meet, as the fix a user can apply.
_OS_FIXES = {
    errno.ENOSPC: "the disk is full; free space and re-run the same command (finished work is kept)",
    errno.EDQUOT: "the disk quota is exceeded; free space and re-run the same command (finished work is kept)",
    errno.EACCES: "permission denied; choose a folder you can write to (e.g. another --output-dir)",
    errno.EPERM: "operation not permitted; choose a folder you can write to (e.g. another --output-dir)",
    errno.EROFS: "the file system is read-only; choose another --output-dir",
    errno.ENOTDIR: "a path component is a file, not a folder; pass a path inside a folder",
    errno.EISDIR: "it is a folder where a file was expected; pass a file path",
    errno.ENAMETOOLONG: "the path is too long; use a shorter one",
    errno.ENOENT: "no such file or folder; check the path",
}


class CommandParser(argparse.ArgumentParser):
    """``argparse`` with the toolkit's error style: one ``error: ...`` line naming the fix, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"error: {message}; see `{self.prog} --help`\n")


def add_version(parser: argparse.ArgumentParser) -> None:
    """``--version``: the installed toolkit's version, as every command prints it."""
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s (bert-compression-toolkit) {toolkit_version()}")


def toolkit_version() -> str:
    """The installed package's version (``unknown`` when run from a checkout that was never installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bert-compression-toolkit")
    except PackageNotFoundError:
        return "unknown"


def warn(message: str) -> None:
    """One line on stderr for a result the user should know is suspect (the command still succeeds)."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def quiet_third_party_logs() -> None:
    """Silence library chatter that is noise on a command line (HF load reports and bars, INC)."""
    logging.getLogger("neural_compressor").setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()  # "Loading weights" bars on every load
    except ImportError:  # pragma: no cover - transformers is a dependency
        pass


def os_error_message(err: OSError) -> str:
    """One line for a file-system error: what failed, on which path, and the fix."""
    where = f" ({err.filename})" if err.filename else ""
    fix = _OS_FIXES.get(err.errno, "check the path and the free disk space")
    return f"{err.strerror or type(err).__name__}{where}: {fix}"


def run_command(handler: Callable[[], int | None]) -> int:
    """Run a command's body; expected failures become ``error: ...`` on stderr and exit code 2.

    Bad input (``UserError``), file-system failures (full disk, read-only or missing folders)
    and running out of memory are expected on real machines and get one line naming the fix.
    Anything else is a bug in the toolkit and keeps its traceback.
    """
    stop_on_sigterm = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if stop_on_sigterm else None
    try:
        return handler() or 0
    except UserError as err:
        message = str(err)
    except OSError as err:
        message = os_error_message(err)
    except MemoryError:
        message = "out of memory; lower --batch-size or max_seq_length, or use a machine with more memory"
    except KeyboardInterrupt:
        print("interrupted; completed checkpoints are kept, re-run the same command to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if stop_on_sigterm:
            signal.signal(signal.SIGTERM, previous)
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_USER_ERROR


def _interrupt(signum, frame) -> None:
    """``kill PID`` stops a command as Ctrl-C does (background jobs ignore Ctrl-C's SIGINT)."""
    raise KeyboardInterrupt


@contextmanager
def quiet_loading(datasets) -> Iterator[None]:
    """No "Generating split" bars, and no log lines of its own: a failure is reported once, as one line."""
    enabled = datasets.is_progress_bar_enabled()
    # huggingface_hub logs every retry of an unreachable Hub ("Retrying in 1s [Retry 1/5]")
    loggers = [logging.getLogger(name) for name in ("datasets", "huggingface_hub")]
    levels = [logger.level for logger in loggers]
    datasets.disable_progress_bars()
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        if enabled:
            datasets.enable_progress_bars()
