"""Imports every ORM model so ``Base.metadata`` is complete (Alembic and tests use this)."""

from flowvault.audit.models import AuditEvent
from flowvault.auth.models import ApiToken, BrowserSession, User
from flowvault.db.base import Base
from flowvault.secrets.models import SealedField, Secret, SecretUsage, WorkspaceKey
from flowvault.workspaces.models import Invitation, Membership, Workspace

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "BrowserSession",
    "Invitation",
    "Membership",
    "SealedField",
    "Secret",
    "SecretUsage",
    "User",
    "Workspace",
    "WorkspaceKey",
]
