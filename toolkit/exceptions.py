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
