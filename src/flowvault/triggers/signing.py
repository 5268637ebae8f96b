"""HMAC signing of webhook requests (SPEC §6). Pure: no web framework, no database.

A signed request carries two headers:

    X-Flowvault-Timestamp: <unix seconds>
    X-Flowvault-Signature: v1=<hex HMAC-SHA256>

The HMAC key is the workspace signing key exactly as shown (its ASCII bytes). The signed message is
``"{timestamp}.{body}"``: the timestamp header's text, a dot, and the minified JSON body. The server
accepts the signature when it matches any of:

1. the exact body bytes received (send the minified JSON you signed: what every example does);
2. ``json.dumps(body, separators=(",", ":"), ensure_ascii=False)`` of the parsed body, UTF-8
   (JavaScript's ``JSON.stringify`` for ordinary objects);
3. ``json.dumps(body, separators=(",", ":"))`` of the parsed body (Python's default, ``\\uXXXX`` escapes).

So a sender that signs the minified form but transmits it pretty-printed still verifies; any change
to the content, the timestamp or the key does not. Comparisons are constant-time
(``hmac.compare_digest``). The timestamp must be within the workspace's replay window of the
server's clock, either way; a signature already accepted is refused within that window (the caller
keeps the record of accepted signatures).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from flowvault.triggers.errors import (
    SignatureMalformed,
    SignatureMismatch,
    SignatureMissing,
    TimestampMalformed,
    TimestampOutsideWindow,
)

TIMESTAMP_HEADER = "X-Flowvault-Timestamp"
SIGNATURE_HEADER = "X-Flowvault-Signature"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v1=([0-9a-fA-F]{64})")
HOW_TO_SIGN = (
    f'{SIGNATURE_HEADER} is "v1=" followed by the hex HMAC-SHA256 of "{{timestamp}}.{{body}}" with the '
    f"workspace signing key; {TIMESTAMP_HEADER} is the time of signing in unix seconds."
)


@dataclass(frozen=True)
class Verified:
    signature: str
    """Lower-case hex: the replay guard's key."""
    timestamp: int


def sign(key: str, timestamp: str, body: bytes) -> str:
    """The hex signature of ``body`` sent at ``timestamp`` (what a sender computes)."""
    return hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_forms(raw: bytes, parsed: Any) -> list[bytes]:
    """The body forms a signature may cover, the received bytes first."""
    forms = [raw]
    for ensure_ascii in (False, True):
        form = json.dumps(parsed, separators=(",", ":"), ensure_ascii=ensure_ascii).encode()
        if form not in forms:
            forms.append(form)
    return forms


def verify(
    *,
    key: str,
    timestamp: str | None,
    signature: str | None,
    raw: bytes,
    parsed: Any,
    window_s: int,
    now: float,
) -> Verified:
    """Raises the SignatureError (or subclass) that says what is wrong; returns the verified signature."""
    missing = [name for name, value in ((TIMESTAMP_HEADER, timestamp), (SIGNATURE_HEADER, signature)) if not value]
    if missing:
        raise SignatureMissing(
            f"This workspace accepts only signed webhook requests; missing header(s): {', '.join(missing)}. "
            + HOW_TO_SIGN
        )
    assert timestamp is not None and signature is not None
    timestamp, signature = timestamp.strip(), signature.strip()
    if not _TIMESTAMP.fullmatch(timestamp):
        raise TimestampMalformed(
            f"{TIMESTAMP_HEADER} must be the time of signing in whole unix seconds (digits only, e.g. 1764244800)."
        )
    match = _SIGNATURE.fullmatch(signature)
    if match is None:
        raise SignatureMalformed(f"{SIGNATURE_HEADER} is not in the form 'v1=<64 hex digits>'. " + HOW_TO_SIGN)
    given = match.group(1).lower()
    matched = False
    for form in signed_forms(raw, parsed):
        matched |= hmac.compare_digest(sign(key, timestamp, form), given)
    if not matched:
        raise SignatureMismatch(
            "The signature does not match this request: the body or the timestamp was changed after signing "
            "(a tampered body), or it was signed with another key (was the signing key regenerated?). Sign "
            'exactly the bytes you send, as "{timestamp}.{body}", with the current signing key.'
        )
    sent = int(timestamp)
    skew = now - sent
    if abs(skew) > window_s:
        when = f"{int(skew)} s old" if skew > 0 else f"{int(-skew)} s in the future"
        raise TimestampOutsideWindow(
            f"{TIMESTAMP_HEADER} is {when}; this workspace accepts requests signed at most {window_s} s before "
            "or after its clock. Sign each request when you send it, and check the sender's clock."
        )
    return Verified(signature=given, timestamp=sent)
