"""The append-only audit log: secret created/rotated/deleted/used, member changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper

from flowvault.audit.models import AuditEvent
from flowvault.auth.models import User
from flowvault.db.base import table_of, utcnow
from flowvault.db.writes import Writes

_INSERT_ENTRIES = insert(table_of(AuditEvent))


def entry(
    *,
    workspace_id: str,
    actor: User | None,
    action: str,
    target_type: str,
    target_id: str | None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The row of an audit event, for a caller that inserts it later with other writes (``add_entries``)."""
    return {
        "workspace_id": workspace_id,
        "actor_id": actor.id if actor else None,
        "actor_email": actor.email if actor else None,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "details": details or {},
        "at": utcnow(),
    }


async def add_entries(writes: Writes, entries: list[dict[str, Any]]) -> None:
    """Appends audit events made by ``entry``, in one statement."""
    await writes.executemany(_INSERT_ENTRIES, entries)


def record(
    session: AsyncSession,
    *,
    workspace_id: str,
    actor: User | None,
    action: str,
    target_type: str,
    target_id: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEvent(
            **entry(
                workspace_id=workspace_id,
                actor=actor,
                action=action,
                target_type=target_type,
                target_id=target_id,
                details=details,
            )
        )
    )


async def list_events(
    session: AsyncSession,
    *,
    workspace_id: str,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
    if action:
        query = query.where(AuditEvent.action == action)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list((await session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit))).all())


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(_mapper: Mapper[AuditEvent], _connection: object, _target: AuditEvent) -> None:
    raise RuntimeError("audit events are append-only")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(_mapper: Mapper[AuditEvent], _connection: object, _target: AuditEvent) -> None:
    raise RuntimeError("audit events are append-only")
