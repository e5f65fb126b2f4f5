"""The one exception type for bad user input: caught by every CLI and printed as one line."""


class UserError(Exception):
    """Bad input from the user (a path, a name, a file). The message names the problem and the fix."""
