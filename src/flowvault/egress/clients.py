"""Guarded clients shared by every run of a process: one per egress policy, all over one transport.

A client is cheap once its transport exists, and the transport (TLS context, connection pools) is the
expensive part: sharing it lets runs reuse connections to the same service. Clients are kept per
policy (allowlist + exemptions) in a bounded LRU; dropping one closes nothing, because the transport
belongs to this object and is closed by :meth:`EgressClients.aclose` when the process stops.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import httpx

from flowvault.egress.client import GuardedClient
from flowvault.egress.policy import EgressPolicy
from flowvault.egress.resolver import Resolver
from flowvault.egress.transport import PinnedTransport
from flowvault.lru import LRU

MAX_POLICIES = 512


class _Shared(httpx.AsyncBaseTransport):
    """The shared transport as each client sees it: closing a client leaves it open."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transport.handle_async_request(request)

    async def aclose(self) -> None:
        return None


class EgressClients:
    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
        max_policies: int = MAX_POLICIES,
    ) -> None:
        self._transport = transport
        self._resolver = resolver
        self._clients: LRU[EgressPolicy, GuardedClient] = LRU(max_policies)
        self._by_key: LRU[Hashable, GuardedClient] = LRU(max_policies)

    def client(self, policy: EgressPolicy) -> GuardedClient:
        client = self._clients.get(policy)
        if client is not None:
            return client
        if self._transport is None:
            self._transport = PinnedTransport()
        client = GuardedClient(policy, resolver=self._resolver, transport=_Shared(self._transport))
        return self._clients.put(policy, client)

    def client_for(self, key: Hashable, policy: Callable[[], EgressPolicy]) -> GuardedClient:
        """The client of the policy ``policy()`` builds, found by ``key`` (what the policy is made of, for
        a caller that would otherwise build the same policy for every request)."""
        client = self._by_key.get(key)
        if client is None:
            client = self._by_key.put(key, self.client(policy()))
        return client

    async def aclose(self) -> None:
        self._by_key.clear()
        self._clients.clear()
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.aclose()
