"""Errors the toolkit raises on purpose. The CLI prints them as one line and exits with ``exit_code``."""

from __future__ import annotations


class PrivauditError(Exception):
    """Base class: a problem the user can act on, said in one line."""

    exit_code = 2


class UnusableInputError(PrivauditError):
    """An export folder or file that cannot be loaded at all (named in the message)."""


class MappingError(PrivauditError):
    """A mapping file that is malformed or names something that does not exist."""


class PolicyError(PrivauditError):
    """A policy file that is malformed (the message names the key)."""


class UsageError(PrivauditError, ValueError):
    """An argument out of its range (the message names the option and what is allowed)."""


class RetentionWarning(UserWarning):
    """The audit database holds exports loaded longer ago than the policy's
    ``auditor.retention_days`` (``toolkit.purge``)."""


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM: raised like Ctrl-C so that every clean-up runs. The CLI
    installs the handlers of SIGINT and SIGTERM, which also set ``signal``: DuckDB reports the
    exception as an interrupted query, or may drop it when the query had just ended, so long
    work checks :func:`check_stop` between steps."""

    signal: int | None = None


def check_stop() -> None:
    """Raise the pending interrupt (Ctrl-C or SIGTERM) that DuckDB may have swallowed."""
    import signal
    if Terminated.signal == signal.SIGTERM:
        raise Terminated()
    if Terminated.signal is not None:
        raise KeyboardInterrupt()
