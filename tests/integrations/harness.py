"""Runs one node type directly, as the engine does, without a database or the web app.

``Harness`` builds the ``NodeContext``: a real ``GuardedClient`` (allowing only the fake's host),
a ``ResolvedCredential`` bound to that host, the fake's base URL for ``service_url``, a ``sleep``
that records what it was asked to wait, and a log list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from flowvault.egress import EgressPolicy, GuardedClient
from flowvault.nodes.registry import node_type
from flowvault.nodes.sdk import NodeContext, NodeResult, NodeType, ResolvedCredential

DEFAULT_HOST = "127.0.0.2"


def guarded_client(host: str = DEFAULT_HOST, transport: httpx.AsyncBaseTransport | None = None) -> GuardedClient:
    """A guarded client whose policy allows ``host`` (and exempts it from the private-address block)."""
    policy = EgressPolicy(allowed_hosts=(host,), exempt_private=frozenset({host}))
    return GuardedClient(policy, transport=transport)


def credential(
    type_key: str, host: str = DEFAULT_HOST, name: str = "test credential", **fields: str
) -> ResolvedCredential:
    return ResolvedCredential(id=f"cred-{type_key}", name=name, type=type_key, fields=fields, hosts=(host,))


def get_node(key: str) -> NodeType:
    kind = node_type(key)
    assert kind is not None, f"node type {key!r} is not registered"
    return kind


@dataclass
class Harness:
    http: GuardedClient
    base_url: str = "http://127.0.0.2"
    slept: list[float] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def context(
        self,
        credential: ResolvedCredential | None = None,
        *,
        run_input: Mapping[str, Any] | None = None,
        service_url: Callable[[str], str] | None = None,
        node_name: str = "Test node",
    ) -> NodeContext:
        return NodeContext(
            node_id="node-1",
            node_name=node_name,
            http=self.http,
            credential=credential,
            service_url=service_url or (lambda _service: self.base_url),
            sleep=self._sleep,
            log=self.logs.append,
            run_input=dict(run_input or {}),
        )

    async def run(self, key: str, config: Mapping[str, Any], credential: ResolvedCredential | None = None,
                  **context: Any) -> NodeResult:
        """Validates ``config`` with the type's Config model (as the engine does) and runs the node."""
        kind = get_node(key)
        validated = kind.Config.model_validate(dict(config))
        return await kind.run(self.context(credential, **context), validated)
