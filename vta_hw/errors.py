"""The base of every error the toolkit raises on purpose.

The CLI turns any ``VtaError`` into a one-line message and a non-zero exit; anything else
is a bug and keeps its traceback.  Each layer subclasses it with a specific name (ConfigError,
DecodeError, DeadlockError, ...) so callers can catch exactly what they expect.
"""


class VtaError(Exception):
    """An input, program or device problem the user can act on."""
