"""Exceptions that the command line turns into one clear message instead of a traceback."""


class InputError(Exception):
    """Bad user input: a missing or corrupt file, a wrong config value, an unexpected label.

    The message must name the case and the file (or the config key) it concerns.
    """


class ConfigError(InputError):
    """An invalid configuration value or combination of options."""
