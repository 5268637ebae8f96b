from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from flowvault.db.base import Base, UTCDateTime, new_id, utcnow


class WorkspaceKey(Base):
    """A workspace's data key, wrapped by the master key ``master_key_id``. Deleting the row
    (with the workspace) destroys the only copy: crypto-shredding."""

    __tablename__ = "workspace_keys"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    master_key_id: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    rewrapped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Secret(Base):
    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("workspace_id", "type", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    public_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SealedField(Base):
    """One secret field of one secret, sealed with the workspace key (AAD binds it to its row)."""

    __tablename__ = "sealed_fields"

    secret_id: Mapped[str] = mapped_column(ForeignKey("secrets.id", ondelete="CASCADE"), primary_key=True)
    field: Mapped[str] = mapped_column(String(64), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class SecretUsage(Base):
    """The "used by" index: which workflow node refers to which secret. Kept up to date on every
    workflow save."""

    __tablename__ = "secret_usages"

    secret_id: Mapped[str] = mapped_column(ForeignKey("secrets.id", ondelete="CASCADE"), primary_key=True)
    # Indexed on its own too: a workflow save rewrites its rows (``WHERE workflow_id = ...``), which the
    # primary key (secret_id first) cannot find without reading every row of the table.
    workflow_id: Mapped[str] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    node_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    workflow_name: Mapped[str] = mapped_column(String(200))
    node_name: Mapped[str] = mapped_column(String(200))


class SecretChange(Base):
    """The log of changes to a workspace's secrets, one row per secret per bump of
    ``Workspace.secrets_version``: created, rotated or deleted (the id only, nothing of the value).

    A process caching what it derived from the workspace's secrets (the "no hardcoded tokens" check)
    reads the rows after the version it holds and refreshes only those secrets. Old rows are pruned;
    a version without its rows (pruned, or a bulk change) means: rebuild from every secret."""

    __tablename__ = "secret_changes"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret_id: Mapped[str] = mapped_column(String(36), primary_key=True)
