"""Check that a file is UTF-8 text before a loader parses it, so a wrong file is one clear error.

Loaders of text formats (GLUE TSVs, users' CSV/TSV/JSON files, training corpora) call
:func:`check_text_file` first: a binary file, a UTF-16 export (a common spreadsheet default) or
another encoding is named as such, with the fix, instead of surfacing as a decoder traceback or,
worse, being read with replacement characters and trained on.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from eval.core.errors import UserError

SNIFF_BYTES = 1 << 16
# Allowed control characters: tab, newlines, form feed, vertical tab, and the escape-free rest of text.
_TEXT_CONTROLS = frozenset("\t\n\r\f\v")
_MAX_CONTROL_FRACTION = 0.01
_UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")


def check_text_file(path: str | Path, what: str = "file") -> None:
    """Raise a one-line ``UserError`` unless the start of ``path`` is UTF-8 text.

    Args:
        path: the file to check (its first 64 KiB are read).
        what: how the message names the file (``"corpus file"``, ``"GLUE file"``, ...).

    Raises:
        UserError: the file is UTF-16, holds NUL bytes (binary), is not valid UTF-8, or is mostly
            control characters.
    """
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    fix = "save it as UTF-8 text"
    if head.startswith(_UTF16_MARKS):
        raise UserError(f"{what} {path} is UTF-16 text; {fix} (e.g. `iconv -f UTF-16 -t UTF-8`)")
    if b"\x00" in head:
        raise UserError(f"{what} {path} is binary (it holds NUL bytes), not text; {fix}")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        # a multi-byte character cut by the end of the sample is not an error
        if len(head) == SNIFF_BYTES and err.start >= len(head) - 3:
            text = head[:err.start].decode("utf-8", errors="replace")
        else:
            raise UserError(f"{what} {path} is not UTF-8 text (invalid byte at offset {err.start}); {fix}") from None
    controls = sum(1 for c in text if c not in _TEXT_CONTROLS and unicodedata.category(c) == "Cc")
    if text and controls > _MAX_CONTROL_FRACTION * len(text):
        raise UserError(f"{what} {path} is not text ({controls} control characters in its first "
                        f"{len(text)}); pass a text file")


def decode_error(path: str | Path, what: str, err: UnicodeDecodeError) -> UserError:
    """The ``UserError`` for invalid UTF-8 met after the sniffed start of a file."""
    byte = err.object[err.start:err.start + 1]
    return UserError(f"{what} {path} is not UTF-8 text (invalid byte {byte!r} past its start); save it as UTF-8 text")
