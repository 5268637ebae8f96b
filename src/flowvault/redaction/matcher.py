"""One Aho-Corasick pass over many literal patterns, resolved into disjoint spans to mask.

The automaton (``ahocorasick_rs``) reports *every* occurrence of every pattern (an overlapping
search), and occurrences that overlap are merged into one span. Leftmost-longest decides the label:
a span is named after the longest pattern starting where the span starts. A non-overlapping
leftmost-longest search alone is not enough: when secret A's occurrence overlaps the start of
secret B's, it resumes after A and leaves B's tail in the clear. Merging leaves nothing of either.

The automaton only reads valid Unicode, so lone surrogates (from ``surrogateescape``-decoded bytes or
JSON ``"\\udc80"``) are searched as U+FFFD, in patterns and text alike; positions do not move.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ahocorasick_rs import AhoCorasick, MatchKind

_SURROGATES = re.compile("[\ud800-\udfff]")

Span = tuple[int, int, int]
"""``(start, end, pattern index)``: ``text[start:end]`` is masked with the pattern's replacement."""


class Matcher:
    """Finds the spans of ``text`` covered by any of ``patterns`` (all non-empty)."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.longest = max(map(len, patterns), default=0)
        searchable = [_SURROGATES.sub("\ufffd", pattern) for pattern in patterns]
        self._automaton = AhoCorasick(searchable, matchkind=MatchKind.Standard) if patterns else None

    def __bool__(self) -> bool:
        return self._automaton is not None

    def spans(self, text: str) -> list[Span]:
        """Disjoint spans in order of position; touching but not overlapping occurrences stay apart."""
        if self._automaton is None:
            return []
        try:
            found = self._automaton.find_matches_as_indexes(text, overlapping=True)
        except UnicodeEncodeError:
            found = self._automaton.find_matches_as_indexes(_SURROGATES.sub("\ufffd", text), overlapping=True)
        found.sort(key=lambda match: (match[1], -match[2]))
        spans: list[Span] = []
        for index, start, end in found:
            if spans and start < spans[-1][1]:
                last_start, last_end, last_index = spans[-1]
                if end > last_end:
                    spans[-1] = (last_start, end, last_index)
            else:
                spans.append((start, end, index))
        return spans


def render(text: str, spans: Sequence[Span], replacements: Sequence[str]) -> str:
    """``text`` with each span replaced by its pattern's replacement."""
    if not spans:
        return text
    parts: list[str] = []
    position = 0
    for start, end, index in spans:
        parts.append(text[position:start])
        parts.append(replacements[index])
        position = end
    parts.append(text[position:])
    return "".join(parts)
