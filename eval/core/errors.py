"""The one exception type for bad user input: caught by every CLI and printed as one line."""


class UserError(Exception):
    """Bad input from the user (a path, a name, a file). The message names the problem and the fix."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (library errors are often long), or its type."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
