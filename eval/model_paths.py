"""Tell a mistyped local model path from a Hub id before the Hub is asked (its retries take half a minute)."""

from __future__ import annotations

import difflib
from pathlib import Path

from eval.core.errors import UserError


def check_local_path(name: str, what: str = "model") -> None:
    """Refuse a model argument that names a missing entry of an existing local folder.

    ``runs/teacherr`` reads like a Hub id (``org/name``), but when ``runs/`` is a folder here it is
    a typo of a local path: the error comes at once, naming the nearest entry (``runs/teacher``),
    instead of after the Hub's retries. Names whose parent is not a local folder pass unchanged.

    Raises:
        UserError: ``name`` does not exist but its parent folder does (with the near match, if any).
    """
    path = Path(str(name).strip()).expanduser()
    if path.exists() or path.parent in (Path(""), Path(".")) or not path.parent.is_dir():
        return
    try:
        entries = sorted(p.name for p in path.parent.iterdir() if not p.name.startswith("."))
    except OSError:  # unreadable: nothing to suggest, and nothing to decide
        return
    close = difflib.get_close_matches(path.name, entries, n=1, cutoff=0.6)
    if close:
        hint = f"did you mean {path.parent / close[0]}?"
    elif entries:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        hint = f"pass one that exists ({path.parent} holds {shown})"
    else:
        hint = f"pass one that exists ({path.parent} is empty)"
    raise UserError(f"{what} folder {name} does not exist ({path.parent} is a local folder, so it is not read as a "
                    f"Hub id); {hint}")
