"""Accepting a hook request: which workflow the URL addresses (checked in constant time), whether it
accepts hooks now, and queueing the run — with the replay guard for signed requests."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flowvault.db.base import table_of, utcnow
from flowvault.db.writes import Rows, SessionWrites, Writes, WriteTransactions
from flowvault.lru import LRU
from flowvault.runs.models import Run
from flowvault.runs.service import queue
from flowvault.secrets.vault import Vault
from flowvault.triggers import service
from flowvault.triggers.errors import ReplayedRequest, WebhookInactive, WebhookNotFound
from flowvault.triggers.models import Webhook, WebhookDelivery, WebhookSettings
from flowvault.triggers.signing import Verified
from flowvault.workflows.models import Workflow

UNKNOWN_HASH = hashlib.sha256(b"no webhook here").hexdigest()
"""Compared against when the workflow has no webhook, so an unknown id costs what a wrong token does."""


@dataclass(frozen=True)
class HookTarget:
    """What a hook request was found to address, with the workspace settings that govern it."""

    workflow_id: str
    workspace_id: str
    workflow_version: int
    hmac_required: bool
    replay_window_s: int
    rate_per_s: float
    burst: int
    signing_key: str | None

    def __repr__(self) -> str:
        return f"HookTarget(workflow_id={self.workflow_id!r}, hmac_required={self.hmac_required!r})"


class _TriggerKinds:
    """Whether a workflow version starts with a Webhook trigger: a version never changes, so the answer
    is kept (bounded) and a hook request needs no graph."""

    def __init__(self, size: int = 4096) -> None:
        self._known: LRU[tuple[str, int], bool] = LRU(size)

    async def webhook_trigger(self, reads: async_sessionmaker[AsyncSession], workflow_id: str, version: int) -> bool:
        known = self._known.get((workflow_id, version))
        if known is not None:
            return known
        async with reads() as session:
            workflow = await session.get(Workflow, workflow_id)
        if workflow is None or workflow.version != version:  # saved meanwhile: don't keep the answer
            return workflow is not None and service.has_webhook_trigger(workflow)
        return self._known.put((workflow_id, version), service.has_webhook_trigger(workflow))


_trigger_kinds = _TriggerKinds()


_settings = table_of(WebhookSettings)
_workflows = table_of(Workflow)
_webhooks = table_of(Webhook)
# Built once (compiled once): a hook request's one query.
_HOOK_TARGET = (
    select(_webhooks.c.token_hash, _workflows.c.workspace_id, _workflows.c.enabled, _workflows.c.version)
    .add_columns(*(column.label(f"settings_{column.key}") for column in _settings.c))
    .select_from(
        _webhooks.join(_workflows, _workflows.c.id == _webhooks.c.workflow_id).outerjoin(
            _settings, _settings.c.workspace_id == _workflows.c.workspace_id
        )
    )
    .where(_webhooks.c.workflow_id == bindparam("workflow_id"))
)


async def hook_target(
    rows: Rows, reads: async_sessionmaker[AsyncSession], *, vault: Vault, workflow_id: str, token: str
) -> HookTarget:
    """Checks the URL (404 for an unknown workflow and a wrong token alike, in constant time) and that
    the workflow accepts hooks now (409). One query in the usual case (``rows``); ``reads`` for the
    rest (a workflow version not seen before, a signing key)."""
    found = await rows.rows(_HOOK_TARGET, {"workflow_id": workflow_id})
    row = found[0] if found else None
    matches = hmac.compare_digest(row["token_hash"] if row is not None else UNKNOWN_HASH, service.token_hash(token))
    if row is None or not matches:
        raise WebhookNotFound()
    refused = service.refusal_for(
        enabled=row["enabled"],
        webhook_trigger=row["enabled"] and await _trigger_kinds.webhook_trigger(reads, workflow_id, row["version"]),
    )
    if refused is not None:
        raise refused
    stored = {column.key: row[f"settings_{column.key}"] for column in _settings.c}
    settings = WebhookSettings(**stored) if stored["workspace_id"] else service.default_settings(row["workspace_id"])
    signing_key = None
    if settings.hmac_required:
        async with reads() as session:
            signing_key = await service.open_signing_key(session, vault, settings)
    if settings.hmac_required and signing_key is None:
        raise WebhookInactive(
            "This workspace requires signed webhooks but has no signing key. Create one in the webhook settings.",
            code="signing_key_missing",
        )
    return HookTarget(
        workflow_id=workflow_id,
        workspace_id=row["workspace_id"],
        workflow_version=row["version"],
        hmac_required=settings.hmac_required,
        replay_window_s=settings.replay_window_s,
        rate_per_s=settings.rate_per_s,
        burst=settings.burst,
        signing_key=signing_key,
    )


async def accept_hook(
    sessions: async_sessionmaker[AsyncSession],
    writes: WriteTransactions,
    *,
    target: HookTarget,
    run_input: dict[str, Any],
    verified: Verified | None,
) -> Run:
    """Queues the run: an unsigned request's in one INSERT of its own; a signed request's in a session
    that also records the signature, so the same signature is refused if it comes again (by any
    process) while its timestamp is inside the replay window."""
    try:
        if verified is None:
            async with writes() as transaction:
                return await _queue(transaction, target, run_input)
        async with sessions() as session:
            await _record_delivery(session, target, verified)
            run = await _queue(SessionWrites(session), target, run_input)
            await session.commit()
            return run
    except IntegrityError:
        async with sessions() as session:
            seen = await session.get(WebhookDelivery, (target.workflow_id, verified.signature)) if verified else None
            if seen is not None:
                raise ReplayedRequest() from None
            if await session.get(Workflow, target.workflow_id) is None:  # deleted while the body was read
                raise WebhookNotFound() from None
        raise


async def _record_delivery(session: AsyncSession, target: HookTarget, verified: Verified) -> None:
    now = utcnow()
    await session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.workflow_id == target.workflow_id, WebhookDelivery.expires_at < now
        )
    )
    if await session.get(WebhookDelivery, (target.workflow_id, verified.signature)) is not None:
        raise ReplayedRequest()
    sent = datetime.fromtimestamp(verified.timestamp, UTC)
    session.add(
        WebhookDelivery(
            workflow_id=target.workflow_id,
            signature=verified.signature,
            expires_at=sent + timedelta(seconds=target.replay_window_s + 1),
        )
    )


async def _queue(writes: Writes, target: HookTarget, run_input: dict[str, Any]) -> Run:
    return await queue(
        writes,
        workspace_id=target.workspace_id,
        workflow_id=target.workflow_id,
        workflow_version=target.workflow_version,
        trigger="webhook",
        run_input=run_input,
        actor_id=None,
    )
