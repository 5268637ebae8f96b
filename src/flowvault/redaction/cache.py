"""Redactors built once and reused: a run resolves the same credentials as the run before it, and
building the automaton costs more than the rest of the engine's work for a credential (measured in
docs/PERFORMANCE.md). SPEC §12: "a compiled multi-pattern automaton per run (or per workspace key
version), built once".

A bounded, expiring map from a keyed BLAKE2b digest of the inputs to what was built from them. The
key is random per process, so the digests say nothing outside it; entries expire like the
workspace keys do (``TTL_SECONDS``) and at most ``MAX_ENTRIES`` are kept (least recently used go
first). A rotated value is a different input, so it never meets the old entry.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
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
        self._key = os.urandom(32)
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[float, T]] = OrderedDict()

    def digest(self, *sections: Iterable[tuple[str, str]]) -> bytes:
        """Order-sensitive and unambiguous: every string is length-prefixed, every section marked."""
        digest = hashlib.blake2b(key=self._key, digest_size=32)
        for section in sections:
            digest.update(b"\xff")
            for pair in section:
                for text in pair:
                    raw = text.encode("utf-8", "surrogatepass")
                    digest.update(len(raw).to_bytes(8, "big"))
                    digest.update(raw)
        return digest.digest()

    def get_or_build(self, key: bytes, build: Callable[[], T]) -> T:
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
