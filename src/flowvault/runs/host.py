"""The database-backed RunHost: what the executor uses to reach secrets, the network and the run record."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.audit import service as audit
from flowvault.audit.models import AuditEvent
from flowvault.db.base import table_of, utcnow
from flowvault.db.writes import SessionWrites, Writes
from flowvault.deps import AppState
from flowvault.egress import EgressPolicy
from flowvault.engine.host import BlockedRequest, CredentialUnavailable, CredentialUndecryptable
from flowvault.engine.records import StepRecord
from flowvault.errors import DecryptionError
from flowvault.lru import LRU
from flowvault.nodes.base import HostBinding
from flowvault.nodes.registry import credential_type, node_type
from flowvault.nodes.sdk import HttpClient, NodeType, ResolvedCredential
from flowvault.runs.models import BlockedEgress, Run, RunStep
from flowvault.runs.service import step_values
from flowvault.secrets import service as secrets_service
from flowvault.secrets.models import Secret
from flowvault.workflows.service import HTTP_CREDENTIAL_TYPES

log = logging.getLogger("flowvault.runs")
FLUSH_AFTER_SECONDS = 1.0
"""Recorded steps are committed at the latest this long after they were recorded (see DbRunHost)."""


# Built once (compiled once): the run's writes, as Core statements.
_INSERT_STEPS = insert(table_of(RunStep))
_secrets = table_of(Secret)
LAST_USED_PRECISION = timedelta(seconds=1)
"""``last_used_at`` is written when it is at least this old: every run that uses a secret would otherwise
update its row, and concurrent runs of one credential would queue for that row's lock (on PostgreSQL it
was the costliest statement of a run: 0.4 to 1.9 ms of waiting per run in benchmark 1c). A row already
recent enough is left alone, without a lock."""
_SECRET_USED = (
    update(_secrets)
    .where(
        _secrets.c.id == bindparam("secret_id"),
        or_(_secrets.c.last_used_at.is_(None), _secrets.c.last_used_at < bindparam("stale_before")),
    )
    .values(last_used_at=bindparam("now"))
)
_MARKED: LRU[str, datetime] = LRU(4096)
"""The ``last_used_at`` this process last set, by secret. A secret this process set less than
``LAST_USED_PRECISION`` ago is not sent an UPDATE at all (it would change nothing): one statement less
for most runs of a busy credential. Other processes' writes are not seen here, so with several
processes a value may lag by up to twice the precision."""


def _set_lately(secret_id: str, stale_before: datetime, now: datetime) -> bool:
    marked = _MARKED.get(secret_id)
    return marked is not None and stale_before <= marked <= now


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
    """Steps, with the audit entries and last-used times their credentials earned, are written in as
    few transactions as the run's guarantees allow:

    - before a node starts, the steps of earlier nodes that may have acted on the outside world
      (category ``action``) are committed, so an interrupted attempt's record names them;
    - steps still held ``FLUSH_AFTER_SECONDS`` after they were recorded are committed, so a run
      watched in the UI shows its progress while a slow node works;
    - the rest is written with the run's outcome, in the finishing transaction (``write_pending``).

    A Webhook → HTTP Request run thus costs one write transaction besides its claim and finish."""

    def __init__(
        self,
        state: AppState,
        run: Run,
        allowlist: tuple[str, ...],
        canceled: asyncio.Event | None = None,
        claimed: Mapping[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.state = state
        self.run = run
        self.allowlist = allowlist
        self._claimed = claimed or {}
        """Secrets read in the claim's transaction (``runs.execute.credential_reads``): their rows by id."""
        self.canceled = canceled if canceled is not None else asyncio.Event()
        self._steps: list[dict[str, Any]] = []
        self._audit: list[dict[str, Any]] = []
        self._used: set[str] = set()
        self._effects = False
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None

    async def _credential(self, secret: secrets_service.SealedSecret) -> ResolvedCredential:
        ctype = credential_type(secret.type)
        if ctype is None:
            raise CredentialUnavailable(secret.name)
        vault = self.state.vault
        try:
            key = vault.held(secret.workspace_id)
            if key is None:
                async with self.state.reads() as session:
                    key = await vault.unwrapped(session, secret.workspace_id)
            fields = secrets_service.open_fields(key, secret)
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
        workspace_id, claimed = self.run.workspace_id, self._claimed.get(secret_id)
        if claimed:
            secret = secrets_service.sealed_secret_of(claimed, workspace_id=workspace_id, secret_id=secret_id)
        else:  # not read with the claim (its graph was not known yet), or gone by then: read now
            async with self.state.rows() as rows:
                secret = await secrets_service.sealed_secret(rows, workspace_id=workspace_id, secret_id=secret_id)
        if secret is None:
            async with self.state.reads() as session:
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
        async with self.state.reads() as session:
            found = await secrets_service.secret_by_name(
                session, workspace_id=self.run.workspace_id, name=name, types=HTTP_CREDENTIAL_TYPES
            )
            secret = None
            if found is not None:
                secret = await secrets_service.sealed_secret(
                    SessionWrites(session), workspace_id=self.run.workspace_id, secret_id=found.id
                )
        if secret is None:
            raise CredentialUnavailable()
        return await self._credential(secret)

    def http_client(self, kind: NodeType) -> HttpClient:
        """The process's guarded client for this run's policy (allowlist + the type's service hosts)."""
        return self.state.egress.client_for((self.allowlist, kind.key), partial(self._policy, kind))

    def _policy(self, kind: NodeType) -> EgressPolicy:
        services = tuple(h for s in kind.services if (h := service_host(self.state.settings.service_url(s))))
        return EgressPolicy(
            allowed_hosts=self.allowlist + services, exempt_private=self.state.settings.private_host_exemptions
        )

    def service_url(self, service: str) -> str:
        return self.state.settings.service_url(service)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def now(self) -> datetime:
        return utcnow()

    async def write_pending(self, writes: Writes) -> None:
        """Adds the writes this run still owes to a transaction; the caller commits it (after ``settle``)."""
        steps, entries, used = self._steps, self._audit, self._used
        # Taken before any await: steps may be recorded meanwhile.
        self._steps, self._audit, self._used, self._effects = [], [], set(), False
        await writes.executemany(_INSERT_STEPS, steps)
        await audit.add_entries(writes, entries)
        now = utcnow()
        stale_before = now - LAST_USED_PRECISION
        due = [secret_id for secret_id in sorted(used) if not _set_lately(secret_id, stale_before, now)]
        await writes.executemany(
            _SECRET_USED, [{"secret_id": s, "now": now, "stale_before": stale_before} for s in due]
        )
        for secret_id in due:
            _MARKED.put(secret_id, now)

    async def _flush(self) -> None:
        async with self._lock:
            if not (self._steps or self._audit):
                return
            steps, entries, used, effects = self._steps, self._audit, self._used, self._effects
            try:
                async with self.state.writes() as writes:
                    await self.write_pending(writes)
            except BaseException:
                self._steps, self._audit = steps + self._steps, entries + self._audit
                self._used, self._effects = used | self._used, effects or self._effects
                raise

    def _flush_later(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_AFTER_SECONDS, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._flushing = asyncio.create_task(self._flush_quietly())

    async def _flush_quietly(self) -> None:
        try:
            await self._flush()
        except Exception as exc:  # kept for the next flush
            log.warning("run %s: could not record its steps yet: %s", self.run.id, type(exc).__name__)

    async def settle(self) -> None:
        """Stops the delayed flush; afterwards only ``write_pending`` writes."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is not None:
            await self._flushing
            self._flushing = None

    async def record_step(self, step: StepRecord) -> None:
        self._steps.append(step_values(self.run.id, step))
        kind = node_type(step.node_type)
        self._effects = self._effects or kind is None or kind.category == "action"
        self._flush_later()

    async def node_starting(self) -> None:
        if self._effects:
            await self._flush()

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
        """Recorded with the node's step: ``last_used_at`` and a ``secret.used`` audit entry."""
        self._used.add(credential.id)
        self._audit.append(
            audit.entry(
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
        )

    async def cancelled(self) -> bool:
        """Set by the process's CancelWatch: at once for a cancel through this process, within its poll
        interval for a cancel from elsewhere."""
        return self.canceled.is_set()

    async def wait_cancelled(self) -> None:
        await self.canceled.wait()
