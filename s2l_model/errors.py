"""Errors that reach the user as one line.

The CLI maps each class to an exit code; everything else is a bug and is reported as such.
"""

from __future__ import annotations


class S2LError(Exception):
    """An expected failure with a message written for the user (one line, no traceback)."""

    exit_code: int = 1


class InputError(S2LError):
    """Bad input or usage: a missing, unreadable or unsuitable file, a bad option value."""

    exit_code = 2


class NoFaceError(InputError):
    """No face anywhere in a video: bad input for tracking, an undefined figure for evaluation."""


class ProcessingError(S2LError):
    """The input was accepted but the job failed (e.g. the encoder died)."""

    exit_code = 1


class Interrupted(S2LError):
    """Ctrl-C, after the work that can be kept was saved (the message says how to continue)."""

    exit_code = 130
