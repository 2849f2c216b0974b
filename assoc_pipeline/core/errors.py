"""Errors a user can act on: each names the file, column or setting that is wrong."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input (file, column, value or setting), detected before any output is written."""
