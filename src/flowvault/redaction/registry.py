"""The secrets active in this process, for redacting what is not tied to one run (server logs).

A run registers its redactor while it runs and unregisters it when it ends::

    with ActiveSecrets.activate(redactor):
        ...  # every log record of the process is redacted with it, among others

``combined()`` is one redactor over everything registered; it is rebuilt only after the set
changed, at most once per change, and read without a lock otherwise.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NewType

from flowvault.redaction.redactor import Redactor

Registration = NewType("Registration", int)


class SecretRegistry:
    """A thread-safe set of registered redactors and their cached combination."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._active: dict[object, Redactor] = {}
        self._combined = Redactor.empty()
        self._combined_from: dict[int, Redactor] = {}
        self._stale = False

    def register(self, redactor: Redactor) -> Registration:
        """Start masking what ``redactor`` masks; returns the token to ``unregister`` with."""
        with self._lock:
            token = Registration(next(self._ids))
            self._active[token] = redactor
            self._stale = True
            return token

    def unregister(self, token: object) -> None:
        """Stop masking a registration's values; an unknown or spent token is ignored."""
        with self._lock:
            if self._active.pop(token, None) is not None:
                self._stale = True

    @contextmanager
    def activate(self, redactor: Redactor) -> Iterator[Registration]:
        token = self.register(redactor)
        try:
            yield token
        finally:
            self.unregister(token)

    def combined(self) -> Redactor:
        """One redactor masking everything registered now."""
        if not self._stale:
            return self._combined
        with self._lock:
            if self._stale:
                # Runs resolving the same credentials share one (cached) redactor: when the distinct
                # redactors did not change, neither did their combination (rebuilding costs ~70 µs,
                # and a run starting or ending changes the set on nearly every log record).
                distinct = {id(redactor): redactor for redactor in self._active.values() if redactor}
                if distinct.keys() != self._combined_from.keys():
                    self._combined = (
                        next(iter(distinct.values())) if len(distinct) == 1 else Redactor.combine(distinct.values())
                    )
                    self._combined_from = distinct  # holds them, so their ids stay theirs
                self._stale = False
            return self._combined

    def __len__(self) -> int:
        return len(self._active)


ActiveSecrets = SecretRegistry()
"""The process-wide registry: runs register here, the logging filter reads from here."""
