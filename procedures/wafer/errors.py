"""Errors of a wafer run."""

from __future__ import annotations


class WaferRunError(RuntimeError):
    """A wafer run cannot start or continue (preflight, cursor, recipe mismatch)."""


class PreflightError(WaferRunError):
    """The station is not ready; nothing was moved."""


class CursorError(WaferRunError):
    """A cursor file is missing, unreadable or of an unknown format."""


__all__ = ["CursorError", "PreflightError", "WaferRunError"]
