"""The check every hop passes before anything is sent: URL form, allowlist, credential binding,
resolution and the address blocklist. Its result, a ``Destination``, carries the addresses that
were checked; the client connects to those and nothing else.

Order matters. A host *name* is matched against the allowlist before it is resolved, so a URL
that is not allowed never causes a DNS query (no probing or exfiltration through DNS). An IP
*literal* is classified first, so ``http://127.0.0.1/`` says "loopback" rather than "add it to the
allowlist", which would not help.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from flowvault.egress.addresses import AddressClass, IPAddress, classify_address, parse_address
from flowvault.egress.errors import EgressBlocked
from flowvault.egress.hosts import host_matches, legacy_ipv4, normalize_host
from flowvault.egress.policy import EgressPolicy
from flowvault.egress.resolver import Resolver

_ALLOW_PRIVATE_HINT = "an operator can allow it with FLOWVAULT_ALLOW_PRIVATE_HOSTS"
_USERINFO = re.compile(r"(?<=//)[^/?#]*@")


@dataclass(frozen=True)
class Destination:
    """One checked hop: the URL as the workflow wrote it and the addresses it may connect to."""

    url: httpx.URL
    host: str
    port: int
    addresses: tuple[str, ...]

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.url.scheme, self.host, self.port)

    @property
    def host_header(self) -> str:
        return self.url.netloc.decode("ascii")

    @property
    def server_name(self) -> str | None:
        """The TLS server name (SNI, certificate check): the host, unless it is an IP literal."""
        return None if parse_address(self.host) is not None else self.host

    def pinned_url(self, address: str) -> httpx.URL:
        return self.url.copy_with(host=address)


async def check_url(
    url: httpx.URL | str,
    policy: EgressPolicy,
    resolver: Resolver,
    *,
    credential_hosts: tuple[str, ...] | None = None,
    timeout: float = 30.0,
) -> Destination:
    """Check ``url`` against ``policy``; raise ``EgressBlocked``, or return where to connect.

    ``credential_hosts`` are normalised patterns the attached credential may be sent to (``None``:
    no credential attached). Resolution failures are network errors (``httpx.ConnectError`` /
    ``httpx.ConnectTimeout``), not blocks.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise _unparseable(str(url), exc) from None
    # Each copy_with parses the URL again (~50 µs): made only when there is something to take out.
    plain = (
        parsed.copy_with(username=None, password=None, fragment=None) if parsed.userinfo or parsed.fragment else parsed
    )
    shown = str(plain)
    raw_host = parsed.raw_host.decode("ascii")
    if parsed.userinfo:
        raise EgressBlocked(
            "credentials in URLs are not allowed; use a credential", kind="userinfo", host=raw_host, url=shown
        )
    if parsed.scheme not in ("http", "https"):
        reason = (
            f"{parsed.scheme}:// URLs are not allowed; use http:// or https://"
            if parsed.scheme
            else f"{shown!r} is not an absolute URL; it must start with http:// or https://"
        )
        raise EgressBlocked(reason, kind="scheme", host=raw_host, url=shown)
    if not raw_host:
        raise EgressBlocked("the URL has no host", kind="invalid_url", host="", url=shown)
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    target = parsed.copy_with(fragment=None) if parsed.fragment else parsed

    literal = _literal_address(raw_host, policy, shown)
    if literal is not None:
        host = str(literal)
        _check_address(host, literal, policy, shown, resolved=False)
        _check_allowed(host, policy, credential_hosts, shown)
        return Destination(target, host, port, (host,))

    try:
        host = normalize_host(raw_host)
    except ValueError as exc:
        raise EgressBlocked(str(exc), kind="invalid_url", host=raw_host, url=shown) from None
    _check_allowed(host, policy, credential_hosts, shown)
    checked: list[str] = []
    for answer in await _resolve(resolver, host, port, timeout):
        address = parse_address(answer)
        if address is None or "%" in answer:
            raise EgressBlocked(
                f"the DNS answer for {host} ({answer!r}) is not an IP address", kind="dns", host=host, url=shown
            )
        _check_address(host, address, policy, shown, resolved=True)
        checked.append(str(address))
    return Destination(target, host, port, tuple(checked))


def _check_allowed(host: str, policy: EgressPolicy, credential_hosts: tuple[str, ...] | None, shown: str) -> None:
    if not policy.allows_host(host):
        raise EgressBlocked(
            f"{host} is not on this workspace's egress allowlist; add it in Settings → Engine",
            kind="allowlist",
            host=host,
            url=shown,
        )
    if credential_hosts is not None and not host_matches(host, credential_hosts):
        allowed = ", ".join(credential_hosts) or "no host"
        raise EgressBlocked(
            f"the credential attached to this request may only be sent to {allowed}; {host} is not one of them",
            kind="credential_host",
            host=host,
            url=shown,
        )


def _check_address(host: str, address: IPAddress, policy: EgressPolicy, shown: str, *, resolved: bool) -> None:
    found = classify_address(address)
    if found is None or policy.exempts(host, address, found):
        return
    subject = f"{host} resolves to {address}, which is" if resolved else f"{address} is"
    raise EgressBlocked(_private_reason(subject, found), kind="private_address", host=host, url=shown)


def _private_reason(subject: str, found: AddressClass) -> str:
    if found.category == "metadata":
        return f"{subject} {found.description}; requests to cloud metadata services are blocked"
    return f"{subject} {found.description}; requests to private networks are blocked ({_ALLOW_PRIVATE_HINT})"


def _literal_address(raw_host: str, policy: EgressPolicy, shown: str) -> IPAddress | None:
    """The address an IP-literal host spells; ``None`` for a host name.

    Non-standard spellings (``2130706433``, ``0x7f.1``, zone identifiers) are refused: as
    ``private_address`` when the address they denote is not public, else as ``invalid_url``.
    """
    address = parse_address(raw_host)
    if address is not None and "%" not in raw_host:
        return address
    try:
        denoted = address if address is not None else legacy_ipv4(raw_host)
    except ValueError as exc:
        raise EgressBlocked(str(exc), kind="invalid_url", host=raw_host, url=shown) from None
    if denoted is None:
        return None
    found = classify_address(denoted)
    if found is not None and not policy.exempts(str(denoted), denoted, found):
        reason = _private_reason(f"{raw_host} denotes {denoted}, which is", found)
        raise EgressBlocked(reason, kind="private_address", host=raw_host, url=shown)
    plain = str(denoted).split("%", 1)[0]
    raise EgressBlocked(
        f"{raw_host} is a non-standard way to write the address {plain}; write it as {plain}",
        kind="invalid_url",
        host=raw_host,
        url=shown,
    )


def _unparseable(url: str, exc: httpx.InvalidURL) -> EgressBlocked:
    shown = _USERINFO.sub("", url)
    host = ""
    denoted = None
    try:
        host = urlsplit(url).hostname or ""
        denoted = legacy_ipv4(host) if host else None
    except ValueError:
        pass
    found = classify_address(denoted) if denoted is not None else None
    if found is not None:
        reason = _private_reason(f"{host} denotes {denoted}, which is", found)
        return EgressBlocked(reason, kind="private_address", host=host, url=shown)
    return EgressBlocked(f"{shown!r} is not a valid URL: {exc}", kind="invalid_url", host=host, url=shown)


async def _resolve(resolver: Resolver, host: str, port: int, limit: float) -> list[str]:
    try:
        async with asyncio.timeout(limit):
            answers = list(await resolver(host, port))
    except TimeoutError:
        raise httpx.ConnectTimeout(f"resolving {host} timed out") from None
    except OSError as exc:
        raise httpx.ConnectError(f"could not resolve {host}: {exc}") from exc
    if not answers:
        raise httpx.ConnectError(f"could not resolve {host}: no addresses")
    return answers
