"""Webhook tokens, workspace webhook settings and signing keys (accepting a hook: ``receive``).

Tokens and signing keys are credentials. A token is stored as its SHA-256 (what requests are checked
against, in constant time) and sealed with the workspace data key (so its URL can be shown again);
the signing key only sealed. Neither is ever logged; the signing key is returned only when created."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.audit import service as audit
from flowvault.db.base import utcnow
from flowvault.errors import Conflict
from flowvault.secrets import crypto
from flowvault.secrets.vault import Vault
from flowvault.triggers.errors import WebhookInactive
from flowvault.triggers.models import Webhook, WebhookSettings
from flowvault.workflows.models import Workflow
from flowvault.workflows.service import get_workflow
from flowvault.workspaces.service import Member

WEBHOOK_NODE_TYPE = "webhook_trigger"
TOKEN_PREFIX = "fvh_"  # noqa: S105 - a prefix, so a leaked token is recognisable
_SIGNING_KEY_ID = "webhook-signing-key"
DEFAULTS = {"hmac_required": False, "replay_window_s": 300, "rate_per_s": 5.0, "burst": 20}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token_aad_id(workflow_id: str) -> str:
    return f"webhook-token:{workflow_id}"


def has_webhook_trigger(workflow: Workflow) -> bool:
    return any(node.get("type") == WEBHOOK_NODE_TYPE for node in workflow.graph.get("nodes", []))


def refusal(workflow: Workflow) -> WebhookInactive | None:
    """Why the workflow refuses hook requests right now, if it does."""
    return refusal_for(enabled=workflow.enabled, webhook_trigger=has_webhook_trigger(workflow))


def refusal_for(*, enabled: bool, webhook_trigger: bool) -> WebhookInactive | None:
    if not enabled:
        return WebhookInactive(
            "This workflow is disabled, so its webhook starts no runs. Enable the workflow to accept requests.",
            code="workflow_disabled",
        )
    if not webhook_trigger:
        return WebhookInactive(
            "This workflow does not start with a Webhook trigger. Replace its trigger with a Webhook trigger "
            "to accept requests.",
            code="no_webhook_trigger",
        )
    return None


# -- tokens --------------------------------------------------------------------------------------------------


async def _seal_token(session: AsyncSession, vault: Vault, workflow: Workflow, generation: int, token: str) -> bytes:
    key = await vault.data_key(session, workflow.workspace_id)
    return crypto.seal_field(
        key,
        workspace_id=workflow.workspace_id,
        secret_id=_token_aad_id(workflow.id),
        version=generation,
        field="token",
        value=token,
    )


async def _open_token(session: AsyncSession, vault: Vault, row: Webhook) -> str:
    key = await vault.data_key(session, row.workspace_id)
    return crypto.open_field(
        key,
        workspace_id=row.workspace_id,
        secret_id=_token_aad_id(row.workflow_id),
        version=row.generation,
        field="token",
        blob=row.token_sealed,
    )


async def webhook_of(session: AsyncSession, *, vault: Vault, member: Member, workflow_id: str) -> tuple[Workflow, str]:
    """The workflow and its webhook token, created on first use."""
    member.require_editor("see webhook URLs (the token in one starts runs)")
    workflow = await get_workflow(session, workspace_id=member.workspace.id, workflow_id=workflow_id)
    row = await session.get(Webhook, workflow.id)
    if row is not None:
        return workflow, await _open_token(session, vault, row)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        Webhook(
            workflow_id=workflow.id,
            workspace_id=workflow.workspace_id,
            token_hash=token_hash(token),
            token_sealed=await _seal_token(session, vault, workflow, 1, token),
            generation=1,
        )
    )
    try:
        await session.commit()
    except IntegrityError:  # created at the same moment by another request: show that one
        await session.rollback()
        row = await session.get(Webhook, workflow.id)
        if row is None:
            raise
        return workflow, await _open_token(session, vault, row)
    return workflow, token


async def regenerate_token(
    session: AsyncSession, *, vault: Vault, member: Member, workflow_id: str
) -> tuple[Workflow, str]:
    """A new token; the old URL stops working with this commit."""
    member.require_editor("regenerate webhook URLs")
    workflow = await get_workflow(session, workspace_id=member.workspace.id, workflow_id=workflow_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = await session.get(Webhook, workflow.id, with_for_update=True)
    if row is None:
        row = Webhook(workflow_id=workflow.id, workspace_id=workflow.workspace_id, generation=0)
        session.add(row)
    row.generation += 1
    row.token_hash = token_hash(token)
    row.token_sealed = await _seal_token(session, vault, workflow, row.generation, token)
    row.rotated_at = utcnow()
    audit.record(
        session,
        workspace_id=workflow.workspace_id,
        actor=member.user,
        action="webhook.token_regenerated",
        target_type="workflow",
        target_id=workflow.id,
        details={"workflow_name": workflow.name, "generation": row.generation},
    )
    await session.commit()
    return workflow, token


# -- settings and signing keys -------------------------------------------------------------------------------


async def settings_of(session: AsyncSession, workspace_id: str) -> WebhookSettings:
    """The workspace's webhook settings; defaults (not yet stored) when never changed."""
    row = await session.get(WebhookSettings, workspace_id)
    return row if row is not None else default_settings(workspace_id)


def default_settings(workspace_id: str) -> WebhookSettings:
    """The settings of a workspace that never changed them (not stored)."""
    return WebhookSettings(workspace_id=workspace_id, **DEFAULTS, signing_key_version=0)


async def _stored_settings(session: AsyncSession, workspace_id: str) -> WebhookSettings:
    row = await session.get(WebhookSettings, workspace_id, with_for_update=True)
    if row is None:
        row = WebhookSettings(workspace_id=workspace_id, **DEFAULTS, signing_key_version=0)
        session.add(row)
    return row


async def update_settings(session: AsyncSession, *, member: Member, changes: dict[str, Any]) -> WebhookSettings:
    member.require_manager("change webhook settings")
    row = await _stored_settings(session, member.workspace.id)
    if changes.get("hmac_required") and row.signing_key_sealed is None:
        raise Conflict(
            "Create a signing key first (POST …/settings/webhooks/signing-key), give it to your senders, then "
            "require signatures.",
            extra={"code": "signing_key_missing"},
        )
    before = {name: getattr(row, name) for name in DEFAULTS}
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    after = {name: getattr(row, name) for name in DEFAULTS}
    if after != before:
        audit.record(
            session,
            workspace_id=member.workspace.id,
            actor=member.user,
            action="webhook.settings_changed",
            target_type="workspace",
            target_id=member.workspace.id,
            details={"before": before, "after": after},
        )
    await session.commit()
    return row


async def new_signing_key(session: AsyncSession, *, vault: Vault, member: Member) -> str:
    """A new signing key (32 random bytes, base64url); the previous one stops verifying at once."""
    member.require_manager("create webhook signing keys")
    row = await _stored_settings(session, member.workspace.id)
    signing_key = secrets.token_urlsafe(32)
    row.signing_key_version += 1
    data_key = await vault.data_key(session, member.workspace.id)
    row.signing_key_sealed = crypto.seal_field(
        data_key,
        workspace_id=member.workspace.id,
        secret_id=_SIGNING_KEY_ID,
        version=row.signing_key_version,
        field="signing_key",
        value=signing_key,
    )
    row.signing_key_created_at = row.updated_at = utcnow()
    audit.record(
        session,
        workspace_id=member.workspace.id,
        actor=member.user,
        action="webhook.signing_key_created",
        target_type="workspace",
        target_id=member.workspace.id,
        details={"version": row.signing_key_version},
    )
    await session.commit()
    return signing_key


async def open_signing_key(session: AsyncSession, vault: Vault, row: WebhookSettings) -> str | None:
    if row.signing_key_sealed is None:
        return None
    data_key = await vault.data_key(session, row.workspace_id)
    return crypto.open_field(
        data_key,
        workspace_id=row.workspace_id,
        secret_id=_SIGNING_KEY_ID,
        version=row.signing_key_version,
        field="signing_key",
        blob=row.signing_key_sealed,
    )
