"""Errors a user can fix. The message names the problem and what to do; the CLI prints it
without a traceback and exits non-zero."""


class VssegError(Exception):
    """Base of every user-fixable error in vsseg."""


class ConfigError(VssegError, ValueError):
    """An option or parameter has a value that cannot be used."""
