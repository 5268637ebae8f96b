"""The redactor (SPEC §7): masks every secret value a run resolved, in every derived form.

A ``Redactor`` is built once from ``(secret name, value)`` pairs: each value expands into its
derived forms (``forms.derived_forms``), all of them go into one Aho-Corasick automaton, and every
span they cover becomes ``[REDACTED:<secret name>]``. It is immutable; ``combine`` builds a new one
from several. If masking fails for any reason, the value becomes ``[REDACTION FAILED]``: a value
that could not be redacted is never passed through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, overload

from flowvault.redaction.cache import BuildCache
from flowvault.redaction.forms import MIN_FORM_LENGTH, derived_forms
from flowvault.redaction.markers import ANONYMOUS_MARKER, REDACTION_FAILED, marker
from flowvault.redaction.matcher import Matcher, render
from flowvault.redaction.stream import StreamRedactor

CACHED_MAX_INPUTS = 64
"""``build`` reuses redactors of up to this many inputs: a run's, not a whole workspace's."""


class ShortSecretError(ValueError):
    """A value shorter than ``MIN_FORM_LENGTH`` characters: it cannot be masked safely."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"The value of secret {name!r} is shorter than {MIN_FORM_LENGTH} characters, so it cannot be "
            "masked safely in outputs; use a longer value."
        )


class Redactor:
    """Masks secret values and their derived forms in text, bytes and JSON-like values."""

    def __init__(self, secrets: Iterable[tuple[str, str]] = (), extra: Iterable[tuple[str, str]] = ()) -> None:
        """``secrets``: ``(name, value)`` pairs, each value masked in all its derived forms.
        ``extra``: ``(name, literal)`` pairs masked as given (e.g. ``forms.basic_auth_forms``)."""
        names: dict[str, str] = {}
        for name, value in secrets:
            forms = derived_forms(value)
            if value not in forms:
                raise ShortSecretError(name)
            for form in sorted(forms):
                names.setdefault(form, name)
        for name, literal in extra:
            if len(literal) < MIN_FORM_LENGTH:
                raise ShortSecretError(name)
            names.setdefault(literal, name)
        self._build(names)

    @classmethod
    def build(cls, secrets: Iterable[tuple[str, str]], extra: Iterable[tuple[str, str]] = ()) -> Redactor:
        """The same as ``Redactor(secrets, extra)``; for a few secrets (a run's credentials), the
        redactor built for the same inputs a moment ago is returned instead (see ``cache.py``)."""
        secrets, extra = list(secrets), list(extra)
        if len(secrets) + len(extra) > CACHED_MAX_INPUTS:
            return cls(secrets, extra)
        return _BUILT.get_or_build(_BUILT.key(secrets, extra), lambda: cls(secrets, extra))

    @classmethod
    def empty(cls) -> Redactor:
        """A redactor with nothing to mask (one shared instance: a redactor is immutable)."""
        return _EMPTY

    @classmethod
    def combine(cls, redactors: Iterable[Redactor]) -> Redactor:
        """One redactor masking everything any of ``redactors`` masks (first name wins on a tie)."""
        names: dict[str, str] = {}
        for redactor in redactors:
            for pattern, name in redactor._names.items():
                names.setdefault(pattern, name)
        combined = cls.__new__(cls)
        combined._build(names)
        return combined

    def merge(self, other: Redactor) -> Redactor:
        """A new redactor masking what ``self`` and ``other`` mask."""
        return Redactor.combine((self, other))

    def _build(self, names: dict[str, str]) -> None:
        self._names = names  # pattern -> secret name
        self._matcher = Matcher(list(names))
        self._replacements = _Markers(self._matcher, list(names.values()))

    def __bool__(self) -> bool:
        return bool(self._matcher)

    def __repr__(self) -> str:
        return f"<Redactor: {len(self._names)} patterns for {len(set(self._names.values()))} secrets>"

    def redact(self, text: str) -> str:
        try:
            return render(text, self._matcher.spans(text), self._replacements)
        except Exception:
            return REDACTION_FAILED

    def redact_bytes(self, data: bytes) -> bytes:
        """Bytes are read as UTF-8; bytes that are not valid UTF-8 pass through unchanged."""
        try:
            text = bytes(data).decode("utf-8", "surrogateescape")
            return render(text, self._matcher.spans(text), self._replacements).encode("utf-8", "surrogateescape")
        except Exception:
            return REDACTION_FAILED.encode("ascii")

    def redact_value(self, obj: Any) -> Any:
        """A copy of a JSON-like value with every string (dict keys too) redacted; other scalars as is.

        One search covers all its strings: they are searched joined, and only when that finds a
        pattern is each string searched and redacted on its own. A pattern in any one string is a
        pattern in the joined text, so a value the joined search passes holds no secret (the usual
        case for a step: a search per value instead of one per string)."""
        try:
            texts: list[str] = []
            copy = _copy(obj, texts)
            return copy if self._clean(texts) else self._walk(obj)
        except Exception:
            return REDACTION_FAILED

    def redact_values(self, *objs: Any) -> tuple[Any, ...]:
        """``redact_value`` of each of ``objs``, with one search for all of them when none holds a
        secret (a step's input, output, error and logs); otherwise each is redacted on its own."""
        copies: tuple[Any, ...] = ()
        try:
            texts: list[str] = []
            copies = tuple(_copy(obj, texts) for obj in objs)
            clean = self._clean(texts)
        except Exception:  # each then fails (and is masked) on its own
            clean = False
        return copies if clean else tuple(map(self.redact_value, objs))

    def _clean(self, texts: list[str]) -> bool:
        """Whether no pattern occurs in any of ``texts`` (False when the search fails)."""
        try:
            return not self._matcher or not self._matcher.spans("\x00".join(texts))
        except Exception:
            return False

    def _walk(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, bytes | bytearray):
            return self.redact_bytes(bytes(obj))
        if isinstance(obj, Mapping):
            return {self._walk(key): self._walk(value) for key, value in obj.items()}
        if isinstance(obj, list):
            return [self._walk(item) for item in obj]
        if isinstance(obj, tuple):
            return tuple(self._walk(item) for item in obj)
        if isinstance(obj, set | frozenset):
            return type(obj)(self._walk(item) for item in obj)
        return obj

    def stream(self) -> StreamRedactor:
        """A redactor for text arriving in chunks (see ``StreamRedactor``)."""
        return StreamRedactor(self._matcher, self._replacements)


def _copy(obj: Any, texts: list[str]) -> Any:
    """What ``Redactor._walk`` makes of ``obj`` when nothing is to be masked; its strings (bytes as
    ``redact_bytes`` reads them) are appended to ``texts``."""
    kind = type(obj)  # JSON's own types first, by identity: an isinstance check against an ABC costs more
    if kind is str:
        texts.append(obj)
        return obj
    if kind is dict:
        return {_copy(key, texts): _copy(value, texts) for key, value in obj.items()}
    if kind is list:
        return [_copy(item, texts) for item in obj]
    if kind in _ATOMS:
        return obj
    if isinstance(obj, str):
        texts.append(obj)
        return obj
    if isinstance(obj, bytes | bytearray):
        data = bytes(obj)
        texts.append(data.decode("utf-8", "surrogateescape"))
        return data
    if isinstance(obj, Mapping):
        return {_copy(key, texts): _copy(value, texts) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_copy(item, texts) for item in obj]
    if isinstance(obj, tuple):
        return tuple(_copy(item, texts) for item in obj)
    if isinstance(obj, set | frozenset):
        return type(obj)(_copy(item, texts) for item in obj)
    return obj


_BUILT: BuildCache[Redactor] = BuildCache()
_ATOMS = frozenset({int, float, bool, type(None)})


class _Markers(Sequence[str]):
    """The replacement of each pattern (by index), worked out when first needed: whether a secret's
    marker holds a value to mask costs a search per secret, which a redactor that finds nothing (the
    "no hardcoded tokens" check over a whole workspace) never needs to pay."""

    def __init__(self, matcher: Matcher, names: list[str]) -> None:
        self._matcher = matcher
        self._names = names  # pattern index -> secret name
        self._markers: dict[str, str] = {}

    def marker_of(self, name: str) -> str:
        found = self._markers.get(name)
        if found is None:
            # A secret named after (part of) a value would leak through its own marker.
            named = marker(name)
            found = self._markers[name] = ANONYMOUS_MARKER if self._matcher.occurs_in(named) else named
        return found

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self.marker_of(name) for name in self._names[index]]
        return self.marker_of(self._names[index])

    def __len__(self) -> int:
        return len(self._names)


_EMPTY = Redactor()
