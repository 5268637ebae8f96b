"""The text that takes the place of what was masked."""

from __future__ import annotations

REDACTION_FAILED = "[REDACTION FAILED]"
"""Replaces a whole value that could not be redacted: it is never passed through."""

ANONYMOUS_MARKER = "[REDACTED]"
"""Used instead of ``marker(name)`` when the secret's name itself contains a value to mask."""


def marker(name: str) -> str:
    """What replaces a value of the secret called ``name``."""
    return f"[REDACTED:{name}]"
