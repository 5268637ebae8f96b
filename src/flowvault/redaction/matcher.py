"""One pass over many literal patterns, resolved into disjoint spans to mask.

The automaton (``ahocorasick_rs``) reports *every* occurrence of every pattern (an overlapping
search), and occurrences that overlap are merged into one span. Leftmost-longest decides the label:
a span is named after the longest pattern starting where the span starts. A non-overlapping
leftmost-longest search alone is not enough: when secret A's occurrence overlaps the start of
secret B's, it resumes after A and leaves B's tail in the clear. Merging leaves nothing of either.

Building the automaton costs time that grows faster than the number of patterns (measured in
docs/PERFORMANCE.md: ~10 ms for 2,000 patterns, ~10 s for 100,000). Up to ``EAGER_PATTERNS``
patterns it is built at once. Above that, the matcher starts with a prefix index (a dict from each
pattern's first ``_KEY`` characters to the patterns starting so; ~1 µs a pattern to build) that
finds the same occurrences by looking up every position of the text (~0.2 µs a character, ten times
the automaton's). It serves texts until ``INDEX_SCAN_BUDGET`` characters in all have been searched
that way; the text that would pass the budget builds the automaton, which serves everything from
then on. So a redactor over a whole workspace's secrets that checks a few short texts (a workflow's
settings on save) never pays for the automaton. Both paths report the same occurrences.

The automaton only reads valid Unicode, so lone surrogates (from ``surrogateescape``-decoded bytes or
JSON ``"\\udc80"``) are searched as U+FFFD, in patterns and text alike; positions do not move.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ahocorasick_rs import AhoCorasick, Implementation, MatchKind

_SURROGATES = re.compile("[\ud800-\udfff]")
_KEY = 8  # = MIN_FORM_LENGTH: every form a Redactor masks is at least this long

EAGER_PATTERNS = 5_000
"""Up to this many patterns the automaton is built in the constructor (tens of ms at most)."""

INDEX_SCAN_BUDGET = 65_536
"""Characters searched through the prefix index, in all, before the automaton is built instead."""

Span = tuple[int, int, int]
"""``(start, end, pattern index)``: ``text[start:end]`` is masked with the pattern's replacement."""


def _searchable(patterns: Sequence[str]) -> list[str]:
    if _SURROGATES.search("".join(patterns)):  # one pass in C rather than one regex call per pattern
        return [_SURROGATES.sub("\ufffd", pattern) for pattern in patterns]
    return list(patterns)


class Matcher:
    """Finds the spans of ``text`` covered by any of ``patterns`` (all non-empty)."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.longest = max(map(len, patterns), default=0)
        self._patterns = _searchable(patterns)
        self._key = min(_KEY, min(map(len, self._patterns), default=_KEY))
        self._automaton: AhoCorasick | None = None
        self._index: dict[str, list[int]] | None = None
        self._scanned = 0  # characters searched through the index so far (a race only miscounts)
        if len(self._patterns) <= EAGER_PATTERNS:
            self._automaton = self._build_automaton()
        else:
            key = self._key
            index: dict[str, list[int]] = {}
            for number, pattern in enumerate(self._patterns):
                index.setdefault(pattern[:key], []).append(number)
            self._index = index

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def _build_automaton(self) -> AhoCorasick | None:
        # The contiguous NFA, not the library's automatic choice (a DFA for small sets): a run's
        # redactor of ~10-40 patterns builds in ~0.1 ms instead of ~0.8 ms and searches about as fast.
        if not self._patterns:
            return None
        return AhoCorasick(self._patterns, matchkind=MatchKind.Standard, implementation=Implementation.ContiguousNFA)

    def spans(self, text: str) -> list[Span]:
        """Disjoint spans in order of position; touching but not overlapping occurrences stay apart."""
        if not self._patterns:
            return []
        found = self._occurrences(text)
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

    def occurs_in(self, text: str) -> bool:
        """Whether any pattern occurs in ``text``: for short texts checked once (a redactor's own
        markers), searched through the index without spending the scan budget while there is one."""
        if not self._patterns:
            return False
        index = self._index
        if self._automaton is None and index is not None:
            return bool(self._scan(index, text))
        return bool(self._occurrences(text))

    def _occurrences(self, text: str) -> list[tuple[int, int, int]]:
        """Every occurrence of every pattern as ``(pattern index, start, end)``, overlapping ones too."""
        # Read the index before the automaton: the index is dropped only after the automaton is set,
        # so another thread building it meanwhile cannot leave this call with neither.
        index = self._index
        automaton = self._automaton
        if automaton is None and index is not None and self._scanned + len(text) <= INDEX_SCAN_BUDGET:
            self._scanned += len(text)
            return self._scan(index, text)
        if automaton is None:
            automaton = self._automaton = self._build_automaton()
            self._index = None
            assert automaton is not None
        try:
            return automaton.find_matches_as_indexes(text, overlapping=True)
        except UnicodeEncodeError:
            return automaton.find_matches_as_indexes(_SURROGATES.sub("\ufffd", text), overlapping=True)

    def _scan(self, index: dict[str, list[int]], text: str) -> list[tuple[int, int, int]]:
        if _SURROGATES.search(text):
            text = _SURROGATES.sub("\ufffd", text)
        patterns, key, get = self._patterns, self._key, index.get
        found: list[tuple[int, int, int]] = []
        for start in range(len(text) - key + 1):
            numbers = get(text[start : start + key])
            if numbers is not None:
                for number in numbers:
                    pattern = patterns[number]
                    if text.startswith(pattern, start):
                        found.append((number, start, start + len(pattern)))
        return found


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
