"""The exceptions freqlens raises for its users: bad input (CLI exit code 2) and a stop on request (exit code 130)."""


class FreqlensError(ValueError):
    """Bad input or state, with a message that names the problem and the fix."""


class Interrupted(Exception):
    """The user stopped a command (Ctrl-C); the message says what was kept and how to continue (CLI: exit 130)."""
