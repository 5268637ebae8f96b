"""The default transport under the guarded client: connections to checked IP addresses only.

The client rewrites each request to the checked address and names the real host in ``Host`` and
in the ``sni_hostname`` extension, which httpcore uses as the TLS server name, so certificates are
verified against the host name. httpcore pools connections by URL origin, which is now the IP
address: left alone, a TLS connection verified for ``a.example`` could be reused for
``b.example`` on the same address. So each TLS server name gets a pool of its own.

The transport refuses a URL whose host is not an IP address: a name here would mean a DNS lookup
after the check, which is exactly what pinning exists to prevent.
"""

from __future__ import annotations

import ssl

import httpx

from flowvault.egress.addresses import parse_address


class PinnedTransport(httpx.AsyncBaseTransport):
    """httpx transport for pinned requests: one connection pool per TLS server name.

    ``verify`` is passed to ``httpx.AsyncHTTPTransport`` (``True``: the system/certifi CAs). Pools
    live as long as the transport, which lives as long as its ``GuardedClient``.
    """

    def __init__(self, *, verify: ssl.SSLContext | bool = True, limits: httpx.Limits | None = None) -> None:
        self._verify = verify
        self._limits = limits or httpx.Limits()
        self._pools: dict[str, httpx.AsyncHTTPTransport] = {}

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
            pool = self._pools[key] = httpx.AsyncHTTPTransport(verify=self._verify, limits=self._limits)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()
