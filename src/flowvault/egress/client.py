"""The guarded HTTP client: the only way node code reaches the network (``ctx.http``).

Every hop (the first request and each redirect) is checked by ``check_url`` and sent to one of the
addresses that check returned, with the original host in ``Host`` and as the TLS server name. The
client follows redirects itself, one hop at a time: 301/302/303 become GET (HEAD stays HEAD) without
a body, 307/308 keep method and body. The response's ``url`` and ``request`` describe the host the
workflow asked for, not the IP address; ``response.request.extensions["egress_address"]`` names
the address connected to, and ``response.history`` holds the (closed) redirect responses.

Credential headers: with ``credential_hosts`` given, every hop must match one of them (else
``EgressBlocked(kind="credential_host")``) and may not step down from https to http. Without it,
``Authorization``, ``Proxy-Authorization``, ``Cookie`` and any ``sensitive_headers`` are dropped as
soon as a redirect leaves the first origin (scheme, host, port). Cookies are never stored.

Proxy settings from the environment are ignored: a proxy would resolve names itself, after the check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx

from flowvault.egress.errors import EgressBlocked
from flowvault.egress.guard import Destination, check_url
from flowvault.egress.hosts import normalize_pattern
from flowvault.egress.policy import EgressPolicy
from flowvault.egress.resolver import Resolver, system_resolver
from flowvault.egress.transport import PinnedTransport

ParamValue = str | int | float | bool | None
Headers = Mapping[str, str]
Params = Mapping[str, ParamValue]

_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_BODY_HEADERS = ("content-type", "content-length", "transfer-encoding", "content-encoding")


@dataclass(frozen=True)
class _Hop:
    """What is sent on one hop; redirects derive the next one."""

    method: str
    url: httpx.URL | str
    content: bytes | str | None
    data: Mapping[str, str] | None
    json: Any
    body_dropped: bool = False


@dataclass(frozen=True)
class _Call:
    headers: httpx.Headers
    timeout: float
    follow_redirects: bool
    credential_hosts: tuple[str, ...] | None
    sensitive: frozenset[str]


class GuardedClient:
    """An httpx-based client that only sends what the ``EgressPolicy`` allows.

    ``resolver`` defaults to the system resolver, ``transport`` to ``PinnedTransport()``; tests pass
    an ``httpx.MockTransport`` (which sees the pinned request: IP in the URL, host in ``Host``).
    ``on_blocked`` is called with every ``EgressBlocked`` before it is raised.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_blocked: Callable[[EgressBlocked], None] | None = None,
    ) -> None:
        self.policy = policy
        self._resolver = resolver or system_resolver
        self._on_blocked = on_blocked
        self._transport = transport or PinnedTransport()
        # Builds the requests (encoding bodies, default headers); they are sent to the transport directly.
        self._client = httpx.AsyncClient(transport=self._transport, follow_redirects=False, trust_env=False)

    async def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        headers: Headers | None = None,
        params: Params | None = None,
        content: bytes | str | None = None,
        data: Mapping[str, str] | None = None,
        json: Any = None,
        timeout: float = 30.0,
        follow_redirects: bool = True,
        credential_hosts: Collection[str] | None = None,
        sensitive_headers: Collection[str] = (),
    ) -> httpx.Response:
        """Send a request and read the whole response (see the module docstring for redirects)."""
        async with self.stream(
            method,
            url,
            headers=headers,
            params=params,
            content=content,
            data=data,
            json=json,
            timeout=timeout,
            follow_redirects=follow_redirects,
            credential_hosts=credential_hosts,
            sensitive_headers=sensitive_headers,
        ) as response:
            await response.aread()
        return response

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        headers: Headers | None = None,
        params: Params | None = None,
        content: bytes | str | None = None,
        data: Mapping[str, str] | None = None,
        json: Any = None,
        timeout: float = 30.0,
        follow_redirects: bool = True,
        credential_hosts: Collection[str] | None = None,
        sensitive_headers: Collection[str] = (),
    ) -> AsyncIterator[httpx.Response]:
        """Like ``request``, but yields the response unread, to iterate its body; closed on exit."""
        bound = None if credential_hosts is None else tuple(normalize_pattern(p) for p in credential_hosts)
        call = _Call(
            headers=httpx.Headers(headers),
            timeout=timeout,
            follow_redirects=follow_redirects,
            credential_hosts=bound,
            sensitive=_CREDENTIAL_HEADERS | {name.lower() for name in sensitive_headers},
        )
        hop = _Hop(
            method=method.upper(),
            url=_with_params(url, params),
            content=content,
            data=data,
            json=json,
        )
        try:
            response = await self._follow(call, hop)
        except EgressBlocked as blocked:
            if self._on_blocked is not None:
                self._on_blocked(blocked)
            raise
        try:
            yield response
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> GuardedClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _follow(self, call: _Call, hop: _Hop) -> httpx.Response:
        history: list[httpx.Response] = []
        first: Destination | None = None
        previous: Destination | None = None
        while True:
            destination = await self._check(call, hop, previous)
            first = first or destination
            response = await self._send(call, hop, destination, strip=destination.origin != first.origin)
            if not (call.follow_redirects and response.is_redirect):
                response.history = history
                return response
            await response.aclose()
            history.append(response)
            if len(history) > self.policy.max_redirects:
                raise EgressBlocked(
                    f"stopped after {self.policy.max_redirects} redirects (the policy's limit); "
                    f"{destination.host} redirected again",
                    kind="redirect_limit",
                    host=destination.host,
                    url=str(destination.url),
                )
            hop = _redirected(hop, response.status_code, destination, response.headers["Location"])
            previous = destination

    async def _check(self, call: _Call, hop: _Hop, previous: Destination | None) -> Destination:
        try:
            destination = await check_url(
                hop.url,
                self.policy,
                self._resolver,
                credential_hosts=call.credential_hosts,
                timeout=call.timeout,
            )
        except EgressBlocked as exc:
            if previous is None:
                raise
            raise exc.with_note(f"redirected there by {previous.host}") from None
        if (
            previous is not None
            and call.credential_hosts is not None
            and previous.url.scheme == "https"
            and destination.url.scheme == "http"
        ):
            raise EgressBlocked(
                f"{previous.host} redirected to plain http://{destination.host}; the credential attached to this "
                "request is not sent over http once the request has used https",
                kind="credential_host",
                host=destination.host,
                url=str(destination.url),
            )
        return destination

    async def _send(self, call: _Call, hop: _Hop, destination: Destination, *, strip: bool) -> httpx.Response:
        headers = call.headers.copy()
        for name in list(headers.keys()):
            lower = name.lower()
            dropped_credential = strip and call.credential_hosts is None and lower in call.sensitive
            if dropped_credential or (hop.body_dropped and lower in _BODY_HEADERS):
                del headers[name]
        headers["Host"] = destination.host_header
        extensions: dict[str, Any] = {}
        if destination.url.scheme == "https" and destination.server_name is not None:
            extensions["sni_hostname"] = destination.server_name
        last = len(destination.addresses) - 1
        for index, address in enumerate(destination.addresses):
            request = self._client.build_request(
                hop.method,
                destination.pinned_url(address),
                headers=headers,
                content=hop.content,
                data=hop.data,
                json=hop.json,
                timeout=call.timeout,
                extensions=extensions,
            )
            try:
                # Straight to the transport: this client follows redirects itself, has no auth flow and
                # keeps no cookies, which is all httpx.AsyncClient.send adds (and extracting cookies per
                # response, only to drop them, cost more than the rest of it).
                response = await self._transport.handle_async_request(request)
            except httpx.RequestError as exc:
                exc.request = request  # as httpx.AsyncClient.send does
                if isinstance(exc, httpx.ConnectError) and index < last:
                    continue  # nothing was sent; the next checked address may answer
                raise
            response.request = httpx.Request(
                hop.method,
                destination.url,
                headers=request.headers,
                content=request.content,
                extensions={"egress_address": address},
            )
            return response
        raise AssertionError("unreachable: a Destination has at least one address")


def _with_params(url: httpx.URL | str, params: Params | None) -> httpx.URL | str:
    if not params:
        return url
    try:
        return httpx.URL(url).copy_merge_params(params)
    except httpx.InvalidURL:
        return url  # check_url refuses it with a clear reason


def _redirected(hop: _Hop, status: int, destination: Destination, location: str) -> _Hop:
    try:
        target: httpx.URL | str = destination.url.join(location)
    except httpx.InvalidURL:
        target = location
    if status in (301, 302, 303):
        method = "HEAD" if hop.method == "HEAD" else "GET"
        return replace(hop, method=method, url=target, content=None, data=None, json=None, body_dropped=True)
    return replace(hop, url=target)
