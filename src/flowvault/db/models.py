"""Imports every ORM model so ``Base.metadata`` is complete (Alembic and tests use this)."""

from flowvault.audit.models import AuditEvent
from flowvault.auth.models import ApiToken, BrowserSession, User
from flowvault.db.base import Base
from flowvault.runs.models import BlockedEgress, Run, RunStep
from flowvault.secrets.models import SealedField, Secret, SecretUsage, WorkspaceKey
from flowvault.triggers.models import Schedule, Webhook, WebhookDelivery, WebhookSettings
from flowvault.workflows.models import Workflow, WorkflowChange
from flowvault.workspaces.models import Invitation, Membership, Workspace, WorkspaceSettings

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "BlockedEgress",
    "BrowserSession",
    "Invitation",
    "Membership",
    "Run",
    "RunStep",
    "Schedule",
    "SealedField",
    "Secret",
    "SecretUsage",
    "User",
    "Webhook",
    "WebhookDelivery",
    "WebhookSettings",
    "Workflow",
    "WorkflowChange",
    "Workspace",
    "WorkspaceKey",
    "WorkspaceSettings",
]
