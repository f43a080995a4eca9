"""The one exception type freqlens raises for bad input; the CLI turns it into a one-line message and exit code 2."""


class FreqlensError(ValueError):
    """Bad input or state, with a message that names the problem and the fix."""
