from __future__ import annotations

from fastapi import APIRouter, Query

from flowvault.audit import service
from flowvault.audit.schemas import AuditEventRead, AuditPage
from flowvault.deps import DB, WorkspaceMember

router = APIRouter(prefix="/api/v1/workspaces/{ws}", tags=["logs"])


@router.get("/audit", response_model=AuditPage)
async def audit_log(
    member: WorkspaceMember,
    session: DB,
    action: str | None = Query(default=None, description="e.g. secret.deleted"),
    before_id: int | None = Query(default=None, description="Page backwards from this event id"),
    limit: int = Query(default=100, ge=1, le=500),
) -> AuditPage:
    events = await service.list_events(
        session, workspace_id=member.workspace.id, action=action, before_id=before_id, limit=limit
    )
    return AuditPage(
        items=[AuditEventRead.model_validate(e, from_attributes=True) for e in events],
        next_before_id=events[-1].id if len(events) == limit else None,
    )
