"""Redactors built once and reused: a run resolves the same credentials as the run before it, and
building the automaton costs more than the rest of the engine's work for a credential (measured in
docs/PERFORMANCE.md). SPEC §12: "a compiled multi-pattern automaton per run (or per workspace key
version), built once".

A bounded, expiring map from the inputs to what was built from them. The inputs are secret values,
and what is built from them (a redactor) holds them anyway, as its patterns: keying by them keeps
nothing in memory that the entry does not already hold, and key and entry go together. Entries
expire like the workspace keys do (``TTL_SECONDS``) and at most ``MAX_ENTRIES`` are kept (least
recently used go first). A rotated value is a different input, so it never meets the old entry.
Keying by the inputs themselves (not a digest of them) makes a lookup one tuple hash: the strings
of a resolved credential are the same objects run after run, and keep their hash.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")

TTL_SECONDS = 300.0
MAX_ENTRIES = 256


class BuildCache(Generic[T]):
    def __init__(
        self, *, ttl: float = TTL_SECONDS, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()

    @staticmethod
    def key(*sections: Iterable[tuple[str, str]]) -> Hashable:
        """Order-sensitive and unambiguous: the sections' pairs as tuples, each section its own."""
        return tuple(tuple(section) for section in sections)

    def get_or_build(self, key: Hashable, build: Callable[[], T]) -> T:
        now = self.clock()
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] > now:
                self._entries.move_to_end(key)
                return found[1]
        built = build()  # outside the lock: a slow build holds up no other lookup
        with self._lock:
            self._entries[key] = (now + self.ttl, built)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return built

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
