"""User-facing errors.

Every problem a user can fix (a bad file, a wrong option, an unknown label) raises a subclass of
:class:`RnagenError` with a message that names what is wrong and what is allowed. The command line prints
that message on one line and exits with status 2, without a traceback.
"""


class RnagenError(Exception):
    """A problem with the user's input or options; the message says what is wrong and how to fix it."""


class DataError(RnagenError, ValueError):
    """Malformed, inconsistent or unsupported data."""


class ConfigError(RnagenError, ValueError):
    """An unknown or invalid configuration key or value."""


class DivergedError(ConfigError):
    """Training diverged (a loss that is not finite) or a model's samples are not finite: its settings (a
    learning rate too high) cannot train it; ``rnagen tune`` scores such a trial as the worst, not an error."""


class RunDirError(RnagenError, FileNotFoundError):
    """A run folder that is missing, incomplete or from an incompatible model."""


class OutputError(RnagenError, OSError):
    """An output that must not or cannot be written: it would replace an input, its path is taken by a file
    or folder of the wrong kind, another process is writing it, or the file system refused the write."""
