"""The shapes a secret value takes once a node, a library or a log line has encoded it.

``derived_forms(value)`` lists the literal strings to mask for one value:

- the value itself, and ``repr``'s inside of it (how exceptions and ``%r`` show it);
- base64, standard and URL-safe, with and without padding, at all three alignments: the value
  may start 0, 1 or 2 bytes into an encoded buffer, and only the characters that depend on the
  value alone are kept (the first characters mix in the unknown bytes before it, the last ones
  the unknown bytes after it; the padded tail is kept too, for a value at the very end);
- percent-encoding (``quote`` with ``safe=""`` and the default ``safe="/"``, ``quote_plus``;
  upper- and lower-case escapes);
- JSON string escaping, with ``ensure_ascii`` on and off;
- hex of the UTF-8 bytes, lower and upper case.

Every form shorter than ``MIN_FORM_LENGTH`` characters is dropped: it would mask innocent text
and could not be masked safely anyway, which is why secret values that short are refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from urllib.parse import quote, quote_plus

MIN_FORM_LENGTH = 8

_URLSAFE = str.maketrans("+/", "-_")
_URLSAFE_BYTES = bytes.maketrans(b"+/", b"-_")
_ESCAPE = re.compile("%[0-9A-F]{2}")
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")
"""Characters every other encoding here leaves alone: percent-encoding (RFC 3986's unreserved set),
JSON string escaping (ASCII, no quote or backslash) and ``repr`` (printable ASCII, no quote)."""


def derived_forms(value: str) -> set[str]:
    """Every literal form of ``value`` worth masking, each at least ``MIN_FORM_LENGTH`` long."""
    raw = value.encode("utf-8", "surrogatepass")
    forms = {value, raw.hex(), raw.hex().upper()}
    forms |= _base64_fragments(raw)
    if not _UNRESERVED.fullmatch(value):  # else each of them is the value itself (most tokens are so)
        forms |= _percent_forms(value)
        forms |= _escaped_forms(value)
    return _long_enough(forms)


def basic_auth_forms(username: str, password: str) -> set[str]:
    """The HTTP basic-auth token ``base64("username:password")``, whole, in its usual spellings."""
    token = base64.b64encode(f"{username}:{password}".encode("utf-8", "surrogatepass")).decode("ascii")
    forms = {token, token.rstrip("=")}
    forms |= {form.translate(_URLSAFE) for form in forms}
    return _long_enough(forms)


_SHIFTS = tuple((bytes(offset), offset, -(-8 * offset // 6)) for offset in range(3))
"""(the bytes before the value, how many, the first character made of the value's bits only)"""


def _base64_fragments(raw: bytes) -> set[str]:
    fragments: list[str] = []
    for before, offset, first in _SHIFTS:
        encoded = binascii.b2a_base64(before + raw, newline=False)
        stable_end = 8 * (offset + len(raw)) // 6  # characters past it mix in the bytes that follow
        # Both alphabets, translated as bytes: str.translate with a table is ~10x slower per character.
        for text in (encoded.decode("ascii"), encoded.translate(_URLSAFE_BYTES).decode("ascii")):
            tail = text[first:]
            fragments += (text[first:stable_end], tail, tail.rstrip("="))
    return set(fragments)


def _lower_escapes(form: str) -> str:
    return _ESCAPE.sub(lambda escape: escape.group(0).lower(), form) if "%" in form else form


def _percent_forms(value: str) -> set[str]:
    encoded = {
        quote(value, safe="", errors="surrogatepass"),
        quote(value, errors="surrogatepass"),
        quote_plus(value, safe="", errors="surrogatepass"),
    }
    return encoded | {_lower_escapes(form) for form in encoded}


def _escaped_forms(value: str) -> set[str]:
    forms = {json.dumps(value, ensure_ascii=True)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    # repr picks its quote from the whole string the value sits in, so take both spellings.
    forms.add(repr(value + "'\"")[1:-4])  # single-quoted: ' escaped (the 3 trailing chars are \'")
    if '"' not in value:
        forms.add(repr(value + "'")[1:-2])  # double-quoted: ' left alone
    return forms


def _long_enough(forms: set[str]) -> set[str]:
    return {form for form in forms if len(form) >= MIN_FORM_LENGTH}
