from __future__ import annotations

from fastapi import APIRouter, Query

from flowvault.deps import DB, StateDep, WorkspaceMember
from flowvault.runs import cancel, deadletter, service
from flowvault.runs.schemas import (
    BlockedList,
    BlockedRead,
    CancelAllResult,
    DeadLetterCleared,
    DeadLetterList,
    DeadLetterRead,
    EngineSettings,
    RunCreate,
    RunList,
    RunQueued,
    RunRead,
    RunSummary,
    StepRead,
)
from flowvault.workflows.service import get_workflow
from flowvault.workspaces.allowlist import normalize_allowlist

router = APIRouter(prefix="/api/v1/workspaces/{ws}", tags=["runs"])


@router.post("/workflows/{workflow_id}/runs", status_code=202, response_model=RunQueued)
async def start_run(
    workflow_id: str, body: RunCreate, member: WorkspaceMember, session: DB, state: StateDep
) -> RunQueued:
    workflow = await get_workflow(session, workspace_id=member.workspace.id, workflow_id=workflow_id)
    run = await service.start_manual_run(session, member=member, workflow=workflow, run_input=body.input)
    state.run_queued()
    return RunQueued(id=run.id, status=run.status)


@router.get("/runs", response_model=RunList)
async def list_runs(
    member: WorkspaceMember,
    session: DB,
    status: str | None = Query(default=None),
    workflow_id: str | None = Query(default=None),
    limit: int = Query(default=50, ge=1, le=500),
) -> RunList:
    rows = await service.list_runs(
        session, workspace_id=member.workspace.id, status=status, workflow_id=workflow_id, limit=limit
    )
    return RunList(items=[RunSummary.model_validate(r, from_attributes=True) for r in rows])


@router.get("/runs/{run_id}", response_model=RunRead)
async def get_run(run_id: str, member: WorkspaceMember, session: DB) -> RunRead:
    run, steps = await service.get_run(session, workspace_id=member.workspace.id, run_id=run_id)
    summary = RunSummary.model_validate(run, from_attributes=True)
    return RunRead(
        **summary.model_dump(),
        input=run.input,
        path=run.path,
        attempts=run.attempts,
        steps=[StepRead.model_validate(s, from_attributes=True) for s in steps],
    )


@router.get("/logs/blocked-egress", response_model=BlockedList)
async def blocked_egress(member: WorkspaceMember, session: DB) -> BlockedList:
    rows = await service.list_blocked(session, workspace_id=member.workspace.id)
    return BlockedList(items=[BlockedRead.model_validate(r, from_attributes=True) for r in rows])


@router.get("/settings/engine", response_model=EngineSettings)
async def get_engine_settings(member: WorkspaceMember, session: DB) -> EngineSettings:
    row = await service.workspace_settings(session, member.workspace.id)
    await session.commit()
    return EngineSettings(concurrency=row.concurrency, egress_allowlist=list(row.egress_allowlist))


@router.put("/settings/engine", response_model=EngineSettings)
async def put_engine_settings(body: EngineSettings, member: WorkspaceMember, session: DB) -> EngineSettings:
    member.require_manager("change engine settings")
    row = await service.workspace_settings(session, member.workspace.id)
    row.concurrency = body.concurrency
    row.egress_allowlist = normalize_allowlist(body.egress_allowlist)
    await session.commit()
    return EngineSettings(concurrency=row.concurrency, egress_allowlist=list(row.egress_allowlist))


@router.post("/runs/cancel-all", response_model=CancelAllResult)
async def cancel_all_runs(member: WorkspaceMember, session: DB, state: StateDep) -> CancelAllResult:
    """Cancels every queued run and stops every running one (owner/admin)."""
    queued, running = await cancel.cancel_all(session, member=member)
    for run_id in running:
        state.cancels.signal(run_id)
    return CancelAllResult(canceled_queued=len(queued), canceled_running=len(running))


@router.post("/runs/{run_id}/cancel", response_model=RunSummary)
async def cancel_run(run_id: str, member: WorkspaceMember, session: DB, state: StateDep) -> RunSummary:
    run = await cancel.cancel_run(session, member=member, run_id=run_id)
    state.cancels.signal(run.id)
    return RunSummary.model_validate(run, from_attributes=True)


@router.get("/logs/dead-letter", response_model=DeadLetterList)
async def dead_letter_queue(
    member: WorkspaceMember, session: DB, limit: int = Query(default=100, ge=1, le=500)
) -> DeadLetterList:
    rows = await deadletter.list_entries(session, workspace_id=member.workspace.id, limit=limit)
    return DeadLetterList(
        items=[
            DeadLetterRead(
                run_id=run.id,
                workflow_id=run.workflow_id,
                workflow_name=name,
                trigger=run.trigger,
                reason=run.error,
                attempts=run.attempts,
                queued_at=run.queued_at,
                failed_at=run.finished_at,
            )
            for run, name in rows
        ]
    )


@router.post("/logs/dead-letter/{run_id}/requeue", status_code=202, response_model=RunQueued)
async def requeue_dead_letter(run_id: str, member: WorkspaceMember, session: DB, state: StateDep) -> RunQueued:
    """A new queued run with the failed run's input; the failed run leaves the queue."""
    run = await deadletter.requeue(session, member=member, run_id=run_id)
    state.run_queued()
    return RunQueued(id=run.id, status=run.status)


@router.delete("/logs/dead-letter", response_model=DeadLetterCleared)
async def clear_dead_letter_queue(member: WorkspaceMember, session: DB) -> DeadLetterCleared:
    """Empties the queue (owner/admin). The failed runs stay in the run history."""
    return DeadLetterCleared(cleared=await deadletter.clear(session, member=member))


@router.delete("/logs/dead-letter/{run_id}", response_model=DeadLetterCleared)
async def clear_dead_letter(run_id: str, member: WorkspaceMember, session: DB) -> DeadLetterCleared:
    """Takes one run out of the queue (owner/admin); it stays in the run history."""
    return DeadLetterCleared(cleared=await deadletter.clear(session, member=member, run_id=run_id))
