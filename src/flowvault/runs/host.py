"""The database-backed RunHost: what the executor uses to reach secrets, the network and the run record."""

from __future__ import annotations

import asyncio
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.audit import service as audit
from flowvault.audit.models import AuditEvent
from flowvault.db.base import utcnow
from flowvault.deps import AppState
from flowvault.egress import EgressPolicy, GuardedClient
from flowvault.engine.host import BlockedRequest, CredentialUnavailable, CredentialUndecryptable
from flowvault.engine.records import StepRecord
from flowvault.errors import DecryptionError, NotFound
from flowvault.nodes.base import HostBinding
from flowvault.nodes.registry import credential_type
from flowvault.nodes.sdk import HttpClient, NodeType, ResolvedCredential
from flowvault.runs.models import BlockedEgress, Run
from flowvault.runs.service import step_row
from flowvault.secrets import service as secrets_service
from flowvault.secrets.models import Secret
from flowvault.workflows.service import HTTP_CREDENTIAL_TYPES


def service_host(url: str) -> str | None:
    host = urlsplit(url).hostname
    return host if host and "{" not in host else None


def binding_hosts(binding: HostBinding, state: AppState, allowlist: tuple[str, ...]) -> tuple[str, ...]:
    hosts = list(binding.patterns)
    if binding.service and (host := service_host(state.settings.service_url(binding.service))):
        hosts.append(host)
    if binding.workspace_allowlist:
        hosts.extend(allowlist)
    return tuple(hosts)


class DbRunHost:
    def __init__(
        self, state: AppState, run: Run, allowlist: tuple[str, ...], canceled: asyncio.Event | None = None
    ) -> None:
        self.state = state
        self.run = run
        self.allowlist = allowlist
        self._clients: dict[str, GuardedClient] = {}
        self._canceled = canceled if canceled is not None else asyncio.Event()

    async def _credential(self, secret: Secret | None) -> ResolvedCredential:
        if secret is None or secret.workspace_id != self.run.workspace_id:
            raise CredentialUnavailable()
        ctype = credential_type(secret.type)
        if ctype is None:
            raise CredentialUnavailable()
        async with self.state.sessions() as session:
            try:
                fields = await secrets_service.resolve(
                    session, vault=self.state.vault, workspace_id=secret.workspace_id, secret_id=secret.id
                )
            except NotFound:
                raise CredentialUnavailable() from None
            except DecryptionError:
                raise CredentialUndecryptable(secret.name) from None
        return ResolvedCredential(
            id=secret.id,
            name=secret.name,
            type=secret.type,
            fields=fields,
            hosts=binding_hosts(ctype.hosts, self.state, self.allowlist),
        )

    async def resolve_credential(self, secret_id: str) -> ResolvedCredential:
        async with self.state.sessions() as session:
            secret = await session.get(Secret, secret_id)
            if secret is None or secret.workspace_id != self.run.workspace_id:
                raise CredentialUnavailable(await self._last_known_name(session, secret_id))
        return await self._credential(secret)

    async def _last_known_name(self, session: AsyncSession, secret_id: str) -> str | None:
        """The name a deleted secret had, from the audit log, so the failure can name it."""
        event = await session.scalar(
            select(AuditEvent)
            .where(
                AuditEvent.workspace_id == self.run.workspace_id,
                AuditEvent.target_id == secret_id,
                AuditEvent.action == "secret.deleted",
            )
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )
        name = event.details.get("name") if event is not None else None
        return str(name) if name else None

    async def resolve_secret_by_name(self, name: str) -> ResolvedCredential:
        async with self.state.sessions() as session:
            secret = await secrets_service.secret_by_name(
                session, workspace_id=self.run.workspace_id, name=name, types=HTTP_CREDENTIAL_TYPES
            )
        return await self._credential(secret)

    def http_client(self, kind: NodeType) -> HttpClient:
        client = self._clients.get(kind.key)
        if client is None:
            services = tuple(h for s in kind.services if (h := service_host(self.state.settings.service_url(s))))
            policy = EgressPolicy(
                allowed_hosts=self.allowlist + services, exempt_private=self.state.settings.private_host_exemptions
            )
            client = self._clients[kind.key] = GuardedClient(policy)
        return client

    def service_url(self, service: str) -> str:
        return self.state.settings.service_url(service)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def now(self) -> datetime:
        return utcnow()

    async def record_step(self, step: StepRecord) -> None:
        async with self.state.sessions() as session:
            session.add(step_row(self.run.id, step))
            await session.commit()

    async def record_blocked(self, node_id: str, node_name: str, blocked: BlockedRequest, redacted_url: str) -> None:
        async with self.state.sessions() as session:
            session.add(
                BlockedEgress(
                    workspace_id=self.run.workspace_id,
                    workflow_id=self.run.workflow_id,
                    run_id=self.run.id,
                    node_id=node_id,
                    node_name=node_name,
                    kind=blocked.kind,
                    reason=blocked.reason,
                    host=blocked.host[:300],
                    url=redacted_url,
                )
            )
            await session.commit()

    async def credential_used(self, node_id: str, node_name: str, credential: ResolvedCredential) -> None:
        async with self.state.sessions() as session:
            secret = await session.get(Secret, credential.id)
            if secret is not None:
                secret.last_used_at = utcnow()
            audit.record(
                session,
                workspace_id=self.run.workspace_id,
                actor=None,
                action="secret.used",
                target_type="secret",
                target_id=credential.id,
                details={
                    "name": credential.name,
                    "run_id": self.run.id,
                    "workflow_id": self.run.workflow_id,
                    "node_id": node_id,
                    "node_name": node_name,
                },
            )
            await session.commit()

    async def cancelled(self) -> bool:
        if not self._canceled.is_set():
            async with self.state.sessions() as session:
                status = await session.scalar(select(Run.status).where(Run.id == self.run.id))
            if status == "canceled":
                self._canceled.set()
        return self._canceled.is_set()

    async def wait_cancelled(self) -> None:
        """Set by the process's CancelWatch (a cancel through this process, or its poll of the database)."""
        await self._canceled.wait()

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
