"""Redaction of text that arrives in chunks (process output, streamed responses).

A secret may be split across two chunks, so the last ``longest pattern - 1`` characters are held
back until more text arrives (or ``finish``); so is a masked span that might still grow. The
concatenated output equals redacting the whole text at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowvault.redaction.markers import REDACTION_FAILED
from flowvault.redaction.matcher import Matcher, render


class StreamRedactor:
    """``feed`` chunks, then ``finish``. After a failure it emits ``[REDACTION FAILED]`` once and
    drops the rest of the stream: held-back text may hold part of a secret."""

    def __init__(self, matcher: Matcher, replacements: Sequence[str]) -> None:
        self._matcher = matcher
        self._replacements = replacements
        self._held = ""
        self._failed = False

    def feed(self, chunk: str) -> str:
        if self._failed:
            return ""
        try:
            return self._release(self._held + chunk)
        except Exception:
            return self._fail()

    def finish(self) -> str:
        """Everything still held back, redacted; the stream may then be fed again."""
        if self._failed:
            return ""
        text, self._held = self._held, ""
        try:
            return render(text, self._matcher.spans(text), self._replacements)
        except Exception:
            return self._fail()

    def _release(self, text: str) -> str:
        # Any match still to come ends in a later chunk, so it starts at or after `cut`.
        cut = len(text) - self._matcher.longest + 1
        if cut <= 0:
            self._held = text
            return ""
        spans = self._matcher.spans(text)
        for start, end, _ in reversed(spans):
            if end <= cut:
                break
            if start < cut:  # a span across the cut may still grow: hold all of it back
                cut = start
                break
        self._held = text[cut:]
        return render(text[:cut], [span for span in spans if span[1] <= cut], self._replacements)

    def _fail(self) -> str:
        self._failed = True
        self._held = ""
        return REDACTION_FAILED
