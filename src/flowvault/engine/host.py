"""The engine's view of the outside world. The database-backed implementation lives in
``flowvault.runs.host``; tests may provide their own."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from flowvault.engine.records import StepRecord
from flowvault.nodes.sdk import HttpClient, NodeType, ResolvedCredential


class CredentialUnavailable(Exception):
    """The credential a node refers to is gone (deleted, or never in this workspace). ``name`` is
    its last known name when the host knows it."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name or "credential unavailable")
        self.name = name


class CredentialUndecryptable(CredentialUnavailable):
    """The credential exists but its stored value does not decrypt (altered in the database, or the master
    key does not match). Like every decrypt failure it says nothing more about why."""


class BlockedRequest(Protocol):
    kind: str
    reason: str
    host: str
    url: str


class RunHost(Protocol):
    async def resolve_credential(self, secret_id: str) -> ResolvedCredential:
        """Decrypts the secret now; raises CredentialUnavailable."""
        ...

    async def resolve_secret_by_name(self, name: str) -> ResolvedCredential:
        """An HTTP credential by name (``{{secrets.NAME}}``); raises CredentialUnavailable."""
        ...

    def http_client(self, kind: NodeType) -> HttpClient:
        """The guarded client for a node of this type (egress allowlist plus the type's service hosts)."""
        ...

    def service_url(self, service: str) -> str: ...

    async def sleep(self, seconds: float) -> None: ...

    def now(self) -> datetime: ...

    async def record_step(self, step: StepRecord) -> None:
        """Records a node's step; the host may hold it back until :meth:`node_starting` or the run's end."""
        ...

    async def node_starting(self) -> None:
        """Called before each node starts: what was recorded so far must be durable before a node that
        may act on the outside world runs (so an interrupted run's record names what ran)."""
        ...

    async def record_blocked(
        self, node_id: str, node_name: str, blocked: BlockedRequest, redacted_url: str
    ) -> None: ...

    async def credential_used(self, node_id: str, node_name: str, credential: ResolvedCredential) -> None: ...

    async def cancelled(self) -> bool:
        """Whether the run has been canceled; asked before each node starts."""
        ...

    async def wait_cancelled(self) -> None:
        """Returns once the run is canceled (never, if it is not). The executor races each running node
        against it, so a cancel stops a node mid-way (a Delay, a slow request)."""
        ...
