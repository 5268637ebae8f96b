"""Fixtures for running node types directly against the local fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest_asyncio

from flowvault.egress import GuardedClient
from tests.integrations.harness import DEFAULT_HOST, Harness, guarded_client

ClientFactory = Callable[..., GuardedClient]


@pytest_asyncio.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """Builds guarded clients (``host``, optional ``transport``) and closes them after the test."""
    clients: list[GuardedClient] = []

    def make(host: str = DEFAULT_HOST, transport: httpx.AsyncBaseTransport | None = None) -> GuardedClient:
        client = guarded_client(host, transport)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest_asyncio.fixture
async def make_harness(make_client: ClientFactory) -> Callable[..., Harness]:
    """``make_harness(base_url, host=..., transport=...)``: a Harness over a fresh guarded client."""

    def make(base_url: str, host: str = DEFAULT_HOST, transport: httpx.AsyncBaseTransport | None = None) -> Harness:
        return Harness(http=make_client(host, transport), base_url=base_url)

    return make
