"""Hosts and host patterns, in the one normal form the guard compares.

A host is compared in its ASCII form: lower case, IDNA A-labels encoded exactly as httpx encodes a
URL (``Bücher.de`` → ``xn--bcher-kva.de``), no trailing dot, and IP addresses in standard form
(``::1``, not ``[::1]``). A host made only of DNS characters is required (letters, digits, ``-``,
``_``, dots): anything else (``%2e``, ``\\``) is refused rather than guessed at.

A host whose last label is a number is an IPv4 address, as browsers read it (WHATWG URL): besides
``127.0.0.1`` that includes ``2130706433``, ``0177.0.0.1`` and ``0x7f.1`` (``inet_aton`` rules).
``legacy_ipv4`` says which address such a host denotes; the guard checks that address and then
refuses the spelling, so only standard dotted-decimal addresses ever reach a connection.

Patterns: ``api.example.com`` matches that host only; ``*.example.com`` matches every host below
example.com (``api.example.com``, ``a.b.example.com``) but not ``example.com`` itself (list both to
allow both, as with TLS wildcard certificates). Wildcards never match IP addresses. A pattern names a
host, not a port: any port is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from ipaddress import IPv4Address

import idna

from flowvault.egress.addresses import parse_address

_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_NUMBER = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_HEX = re.compile(r"0[xX]([0-9a-fA-F]*)")
_OCTAL = re.compile(r"0([0-7]+)")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def normalize_host(host: str) -> str:
    """The normal form of ``host``; ``ValueError`` (saying what is wrong) if it is not a usable host."""
    text = host.strip()
    address = parse_address(text)
    if address is not None:
        if "%" in text:
            raise ValueError(f"{host!r}: IPv6 zone identifiers are not allowed")
        return str(address)
    if text.endswith("."):
        text = text[:-1]
    if not text.isascii():
        try:
            text = idna.encode(text.lower()).decode("ascii")
        except idna.IDNAError as exc:
            raise ValueError(f"{host!r} is not a valid internationalised host name: {exc}") from exc
    text = text.lower()
    if not _NAME.fullmatch(text):
        raise ValueError(f"{host!r} is not a valid host name")
    if _ends_in_number(text):
        denoted = legacy_ipv4(text)
        raise ValueError(f"{host!r} is a non-standard way to write the IPv4 address {denoted}; write {denoted}")
    return text


@lru_cache(maxsize=1024)
def normalize_pattern(pattern: str) -> str:
    """The normal form of an allowlist entry: a host, an IP address, or ``*.domain``. Kept (bounded):
    every request with a credential checks its host binding's patterns (invalid ones raise, uncached)."""
    text = pattern.strip()
    if text.startswith("*."):
        suffix = normalize_host(text[2:])
        if parse_address(suffix) is not None:
            raise ValueError(f"{pattern!r}: a wildcard must be followed by a domain name, not an IP address")
        return "*." + suffix
    if "*" in text:
        raise ValueError(f"{pattern!r}: a wildcard is only allowed as the first label, as in *.example.com")
    return normalize_host(text)


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    """Whether the normalised ``host`` matches any of the normalised ``patterns``."""
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and parse_address(host) is None:
                return True
        elif host == pattern:
            return True
    return False


def legacy_ipv4(host: str) -> IPv4Address | None:
    """The IPv4 address a numeric host denotes, ``None`` for a host name.

    ``ValueError`` when the host ends in a number but is not a valid address (``1.2.3.4.5``,
    ``08.0.0.1``, ``256.0.0.1``): browsers refuse those too.
    """
    text = host[:-1] if host.endswith(".") else host
    if not _ends_in_number(text):
        return None
    parts = text.split(".")
    if len(parts) > 4:
        raise ValueError(f"{host!r} has too many parts for an IPv4 address")
    values = [_ipv4_part(part, host) for part in parts]
    *leading, last = values
    if any(value > 255 for value in leading) or last >= 256 ** (5 - len(values)):
        raise ValueError(f"{host!r} is out of range for an IPv4 address")
    number = last
    for index, value in enumerate(leading):
        number += value << (8 * (3 - index))
    return IPv4Address(number)


def _ends_in_number(text: str) -> bool:
    last = text.rsplit(".", 1)[-1]
    return bool(_NUMBER.fullmatch(last))


def _ipv4_part(part: str, host: str) -> int:
    if match := _HEX.fullmatch(part):
        return int(match.group(1) or "0", 16)
    if match := _OCTAL.fullmatch(part):
        return int(match.group(1), 8)
    if _DECIMAL.fullmatch(part):
        return int(part)
    raise ValueError(f"{host!r} is not a valid IPv4 address ({part!r} is not a number)")
