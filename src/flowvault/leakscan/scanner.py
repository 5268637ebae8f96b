"""One Aho-Corasick automaton over the UTF-8 bytes of every pattern of every secret.

Searching bytes (``ahocorasick_rs.BytesAhoCorasick``) means text, JSON-as-text, binary columns and
file chunks are all searched the same way, and positions are byte offsets (which is what a file scan
in chunks needs). Every occurrence is reported (an overlapping search), so two secrets whose forms
overlap are both found.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import Any

from ahocorasick_rs import BytesAhoCorasick, MatchKind

from flowvault.leakscan.forms import Origin


def as_bytes(value: Any) -> bytes:
    """The bytes a stored value is searched as: text as UTF-8, binary as is, anything else as its str()."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "surrogateescape")


class Scanner:
    """Finds which (secret, field, form) occur in a value. Built once from ``(pattern, origin)`` pairs."""

    def __init__(self, patterns: Iterable[tuple[str, Origin]]) -> None:
        origins: dict[bytes, list[Origin]] = {}
        for pattern, origin in patterns:
            key = pattern.encode("utf-8", "surrogatepass")
            known = origins.setdefault(key, [])
            # The first label of a (secret, field) wins: the same string can be two forms at once.
            if not any(o.secret_id == origin.secret_id and o.field == origin.field for o in known):
                known.append(origin)
        self._patterns = list(origins)
        self._origins = [origins[p] for p in self._patterns]
        self.longest = max(map(len, self._patterns), default=0)
        self._automaton = BytesAhoCorasick(self._patterns, matchkind=MatchKind.Standard) if self._patterns else None

    def __len__(self) -> int:
        return len(self._patterns)

    def matches(self, data: bytes) -> list[tuple[Origin, int, int]]:
        """Every occurrence in ``data``: (origin, start, end) in byte offsets."""
        if self._automaton is None or not data:
            return []
        found = self._automaton.find_matches_as_indexes(data, overlapping=True)
        return [(origin, start, end) for index, start, end in found for origin in self._origins[index]]

    def find_in_cells(self, cells: Sequence[bytes]) -> list[tuple[int, Origin]]:
        """(cell index, origin) for every occurrence inside one of ``cells``: one automaton pass over
        all of them joined (a call per cell costs more than the search), occurrences that would span
        two cells dropped."""
        if self._automaton is None or not cells:
            return []
        starts: list[int] = []
        position = 0
        for data in cells:
            starts.append(position)
            position += len(data) + 1
        joined = b"\x00".join(cells)
        found: list[tuple[int, Origin]] = []
        for index, start, end in self._automaton.find_matches_as_indexes(joined, overlapping=True):
            cell = bisect_right(starts, start) - 1
            if end <= starts[cell] + len(cells[cell]):
                found.extend((cell, origin) for origin in self._origins[index])
        return found

    def find(self, value: Any) -> set[Origin]:
        """The distinct origins found anywhere in ``value``."""
        return {origin for origin, _start, _end in self.matches(as_bytes(value))}

    def holds_secret(self, value: Any) -> bool:
        return bool(self.find(value))
