from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from flowvault.deps import DB, StateDep, VaultDep, WorkspaceMember
from flowvault.workflows import hardcoded, service
from flowvault.workflows.models import Workflow
from flowvault.workflows.schemas import (
    ChangeList,
    ChangeRead,
    Graph,
    WorkflowCreate,
    WorkflowList,
    WorkflowRead,
    WorkflowSummary,
    WorkflowUpdate,
)

router = APIRouter(prefix="/api/v1/workspaces/{ws}", tags=["workflows"])


def _read(workflow: Workflow) -> WorkflowRead:
    return WorkflowRead(
        id=workflow.id,
        name=workflow.name,
        enabled=workflow.enabled,
        version=workflow.version,
        graph=Graph.model_validate(workflow.graph),
        created_at=workflow.created_at,
        updated_at=workflow.updated_at,
    )


@router.post("/workflows", status_code=201, response_model=WorkflowRead)
async def create_workflow(body: WorkflowCreate, member: WorkspaceMember, session: DB, vault: VaultDep) -> WorkflowRead:
    workflow = await service.create_workflow(
        session, vault=vault, member=member, name=body.name, enabled=body.enabled, graph=body.graph
    )
    return _read(workflow)


@router.get("/workflows", response_model=WorkflowList)
async def list_workflows(member: WorkspaceMember, session: DB) -> WorkflowList:
    rows = await service.list_workflows(session, workspace_id=member.workspace.id)
    return WorkflowList(
        items=[
            WorkflowSummary(
                id=w.id,
                name=w.name,
                enabled=w.enabled,
                version=w.version,
                node_count=len(w.graph.get("nodes", [])),
                updated_at=w.updated_at,
            )
            for w in rows
        ]
    )


@router.get("/workflows/{workflow_id}", response_model=WorkflowRead)
async def get_workflow(workflow_id: str, member: WorkspaceMember, session: DB, state: StateDep) -> WorkflowRead:
    workflow = await service.get_workflow(session, workspace_id=member.workspace.id, workflow_id=workflow_id)
    if member.role.can_edit:  # opened in the editor: its save will check it against the workspace's secrets
        hardcoded.warm(state.sessions, state.vault, member.workspace.id)
    return _read(workflow)


@router.put("/workflows/{workflow_id}", response_model=WorkflowRead)
async def update_workflow(
    workflow_id: str, body: WorkflowUpdate, member: WorkspaceMember, session: DB, vault: VaultDep
) -> WorkflowRead:
    workflow = await service.update_workflow(
        session,
        vault=vault,
        member=member,
        workflow_id=workflow_id,
        name=body.name,
        enabled=body.enabled,
        graph=body.graph,
        expected_version=body.version,
    )
    return _read(workflow)


@router.delete("/workflows/{workflow_id}", status_code=204)
async def delete_workflow(workflow_id: str, member: WorkspaceMember, session: DB) -> None:
    await service.delete_workflow(session, member=member, workflow_id=workflow_id)


@router.get("/workflows/{workflow_id}/export")
async def export_workflow(workflow_id: str, member: WorkspaceMember, session: DB) -> dict[str, Any]:
    return await service.export_workflow(session, member=member, workflow_id=workflow_id)


@router.get("/logs/changes", response_model=ChangeList)
async def change_history(
    member: WorkspaceMember, session: DB, workflow_id: str | None = Query(default=None)
) -> ChangeList:
    rows = await service.list_changes(session, workspace_id=member.workspace.id, workflow_id=workflow_id)
    return ChangeList(items=[ChangeRead.model_validate(c, from_attributes=True) for c in rows])
