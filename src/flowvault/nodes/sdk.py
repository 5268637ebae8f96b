"""The node SDK: what a node type declares and what it gets when it runs.

A node type declares a stable ``key``, ``version``, display ``name``, ``category``, the credential
types it accepts, a ``Config`` model (its JSON Schema drives the editor form) and an ``Output``
model, and implements ``async run(ctx, config)``. It reaches the network only through ``ctx.http``,
the guarded client, so egress rules, host binding and redaction apply to every call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict

Category = Literal["trigger", "action", "logic"]


class NodeConfig(BaseModel):
    # A template that is a whole value keeps its type; a number rendered into a text setting
    # (a header, a message) is written as text rather than refused.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class NodeOutput(BaseModel):
    model_config = ConfigDict(extra="allow")


class NodeFailed(Exception):
    """A node failed for a reason the user can act on; the message is shown in the run record."""


@dataclass(frozen=True)
class ResolvedCredential:
    """A credential decrypted for one call. Lives only in memory for the node's run."""

    id: str
    name: str
    type: str
    fields: Mapping[str, str]
    hosts: tuple[str, ...]

    def __repr__(self) -> str:
        return f"ResolvedCredential(id={self.id!r}, name={self.name!r}, type={self.type!r})"


class HttpClient(Protocol):
    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        json: Any = None,
        timeout: float = 30.0,
        follow_redirects: bool = True,
        credential_hosts: tuple[str, ...] | None = None,
    ) -> httpx.Response: ...


@dataclass
class NodeContext:
    """What a running node may use. ``credential`` is set when the node selected one."""

    node_id: str
    node_name: str
    http: HttpClient
    credential: ResolvedCredential | None
    service_url: Callable[[str], str]
    sleep: Callable[[float], Awaitable[None]]
    log: Callable[[str], None]
    run_input: Mapping[str, Any] = field(default_factory=dict)

    def require_credential(self, *types: str) -> ResolvedCredential:
        credential = self.credential
        if credential is None or (types and credential.type not in types):
            raise NodeFailed(f"Node '{self.node_name}' needs a credential: select one in its Credentials dropdown.")
        return credential


@dataclass(frozen=True)
class NodeResult:
    output: dict[str, Any]
    branch: str | None = None


class NodeType:
    key: ClassVar[str]
    version: ClassVar[int] = 1
    name: ClassVar[str]
    category: ClassVar[Category]
    description: ClassVar[str] = ""
    credential_types: ClassVar[tuple[str, ...]] = ()
    services: ClassVar[tuple[str, ...]] = ()
    """Configurable services (``slack``) whose API host this node may call without an allowlist entry."""
    branches: ClassVar[tuple[str, ...]] = ()
    """Named outputs (``true``/``false``); empty for a single output."""
    secret_template_fields: ClassVar[tuple[str, ...]] = ()
    """Config fields where ``{{secrets.NAME}}`` may be used (HTTP Request only)."""
    Config: ClassVar[type[NodeConfig]]
    Output: ClassVar[type[NodeOutput]]

    def credential_types_for(self, config: NodeConfig) -> tuple[str, ...]:
        """The credential types this node, so configured, accepts (HTTP Request narrows by auth mode)."""
        return self.credential_types

    def credential_id(self, config: Mapping[str, Any]) -> str | None:
        value = config.get("credential_id")
        return value if isinstance(value, str) and value else None

    async def run(self, ctx: NodeContext, config: Any) -> NodeResult:
        raise NotImplementedError
