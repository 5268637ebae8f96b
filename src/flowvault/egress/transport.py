"""The default transport under the guarded client: connections to checked IP addresses only.

The client rewrites each request to the checked address and names the real host in ``Host`` and
in the ``sni_hostname`` extension, which httpcore uses as the TLS server name, so certificates are
verified against the host name. httpcore pools connections by URL origin, which is now the IP
address: left alone, a TLS connection verified for ``a.example`` could be reused for
``b.example`` on the same address. So each TLS server name gets a pool of its own.

The transport refuses a URL whose host is not an IP address: a name here would mean a DNS lookup
after the check, which is exactly what pinning exists to prevent.

Connections are made by ``AsyncioBackend`` (``egress.network``): asyncio's transports directly, not
anyio's wrappers around them.

Building a TLS context (loading the CA bundle) costs tens of milliseconds, so a transport builds one
when it first needs it and every pool shares it.
"""

from __future__ import annotations

import ssl
from collections import OrderedDict

import certifi
import httpcore
import httpx

from flowvault.egress.addresses import parse_address
from flowvault.egress.network import AsyncioBackend

MAX_POOLS = 256
"""Pools kept per transport; the least recently used one is closed beyond that."""


class PinnedTransport(httpx.AsyncBaseTransport):
    """httpx transport for pinned requests: one connection pool per TLS server name.

    ``verify``: ``True`` (the certifi CAs, in one context built on first use), an ``SSLContext``, or
    ``False``. Pools live as long as the transport (at most ``max_pools`` of them).
    """

    def __init__(
        self, *, verify: ssl.SSLContext | bool = True, limits: httpx.Limits | None = None, max_pools: int = MAX_POOLS
    ) -> None:
        self._verify = verify
        self._limits = limits or httpx.Limits()
        self._max_pools = max_pools
        self._pools: OrderedDict[str, httpx.AsyncHTTPTransport] = OrderedDict()

    def _context(self) -> ssl.SSLContext | bool:
        if self._verify is True:
            self._verify = ssl.create_default_context(cafile=certifi.where())
        return self._verify

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if parse_address(request.url.host) is None:
            raise httpx.ConnectError(
                f"refusing to connect to {request.url.host}: only checked IP addresses are connected to",
                request=request,
            )
        server_name = request.extensions.get("sni_hostname") if request.url.scheme == "https" else None
        key = str(server_name or "")
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _pool(self._context(), self._limits)
            while len(self._pools) > self._max_pools:
                _name, oldest = self._pools.popitem(last=False)
                await oldest.aclose()
        else:
            self._pools.move_to_end(key)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()


def _pool(verify: ssl.SSLContext | bool, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's transport (its request and response mapping, its errors) on a connection pool whose
    connections are made by ``AsyncioBackend``. httpx takes no network backend, so its pool is replaced
    by one of the same settings."""
    context = httpx.create_ssl_context(verify=verify, trust_env=False)  # the shared one, or one that checks nothing
    transport = httpx.AsyncHTTPTransport(verify=context, limits=limits, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=AsyncioBackend(),
    )
    return transport
