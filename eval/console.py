"""What every command shares: quiet third-party start-up noise, one-line errors, exit codes."""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable

from eval.errors import UserError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


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


def run_command(handler: Callable[[], int | None]) -> int:
    """Run a command's body; bad input becomes ``error: ...`` on stderr and exit code 2."""
    try:
        return handler() or 0
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted; completed checkpoints are kept, re-run the same command to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
