"""The process's guarded clients: one per policy, found again by policy or by what it is made of."""

from __future__ import annotations

import httpx
import pytest

from flowvault.egress import EgressPolicy
from flowvault.egress.clients import EgressClients


def never_called(request: httpx.Request) -> httpx.Response:
    raise AssertionError("no request is sent here")


@pytest.mark.asyncio
async def test_a_key_builds_its_policy_once_and_a_new_key_gets_its_own_client() -> None:
    clients = EgressClients(transport=httpx.MockTransport(never_called))
    built: list[tuple[str, ...]] = []

    def policy(*hosts: str) -> EgressPolicy:
        built.append(hosts)
        return EgressPolicy(allowed_hosts=hosts)

    first = clients.client_for((("a.example",), "http_request"), lambda: policy("a.example"))
    again = clients.client_for((("a.example",), "http_request"), lambda: policy("a.example"))
    other = clients.client_for((("b.example",), "http_request"), lambda: policy("b.example"))
    assert first is again
    assert other is not first
    assert built == [("a.example",), ("b.example",)]
    assert first.policy.allows_host("a.example") and not first.policy.allows_host("b.example")
    # The same policy reached another way is the same client.
    assert clients.client(EgressPolicy(allowed_hosts=("b.example",))) is other
    await clients.aclose()


@pytest.mark.asyncio
async def test_clients_share_one_transport_that_only_closing_all_of_them_closes() -> None:
    closed: list[bool] = []

    class Transport(httpx.MockTransport):
        async def aclose(self) -> None:
            closed.append(True)

    clients = EgressClients(transport=Transport(never_called))
    client = clients.client_for("key", lambda: EgressPolicy(allowed_hosts=("a.example",)))
    await client.aclose()
    assert closed == []
    await clients.aclose()
    assert closed == [True]
    rebuilt = clients.client_for("key", lambda: EgressPolicy(allowed_hosts=("c.example",)))
    assert rebuilt is not client and rebuilt.policy.allows_host("c.example")
