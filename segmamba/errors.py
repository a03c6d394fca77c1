"""Exceptions that the command line turns into one clear message instead of a traceback."""


class InputError(Exception):
    """Bad user input: a missing or corrupt file, a wrong config value, an unexpected label.

    The message must name the case and the file (or the config key) it concerns.
    """


class ConfigError(InputError):
    """An invalid configuration value or combination of options."""


class StepError(Exception):
    """A step could not finish for a reason outside its input: a worker process was killed, the disk is full.

    The message names the step and the case, or the file that could not be written.
    """


class WorkerDiedError(StepError):
    """A worker process of a parallel step died (e.g. SIGKILL from the out-of-memory killer)."""


class OutputWriteError(StepError, OSError):
    """Writing a file failed (e.g. ENOSPC, no space left on the device); the message names the path."""
