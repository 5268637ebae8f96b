"""Run records: queue, claim, finish, query; the blocked-egress log."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.db.base import utcnow
from flowvault.engine.records import RunOutcome, StepRecord
from flowvault.errors import NotFound, ValidationFailed
from flowvault.runs.models import BlockedEgress, Run, RunStep
from flowvault.workflows.models import Workflow
from flowvault.workspaces.models import Workspace, WorkspaceSettings
from flowvault.workspaces.service import Member

RUN_NOT_FOUND = "Run not found in this workspace."
MAX_INPUT_BYTES = 1_000_000
CLAIM_WINDOW = 50


async def queue_run(
    session: AsyncSession, *, workflow: Workflow, trigger: str, run_input: dict[str, Any], actor_id: str | None
) -> Run:
    run = Run(
        workspace_id=workflow.workspace_id,
        workflow_id=workflow.id,
        workflow_version=workflow.version,
        trigger=trigger,
        input=run_input,
        status="queued",
        created_by_id=actor_id,
        queued_at=utcnow(),
    )
    session.add(run)
    await session.commit()
    return run


async def start_manual_run(
    session: AsyncSession, *, member: Member, workflow: Workflow, run_input: dict[str, Any]
) -> Run:
    member.require_editor("run workflows")
    import json

    if len(json.dumps(run_input)) > MAX_INPUT_BYTES:
        raise ValidationFailed("The run input is larger than 1 MB; pass a smaller input.", field="input")
    return await queue_run(session, workflow=workflow, trigger="manual", run_input=run_input, actor_id=member.user.id)


async def workspace_settings(session: AsyncSession, workspace_id: str) -> WorkspaceSettings:
    row = await session.get(WorkspaceSettings, workspace_id)
    if row is not None:
        return row
    # Two requests may create the defaults at once: the loser of the race reads the winner's row.
    try:
        async with session.begin_nested():
            row = WorkspaceSettings(workspace_id=workspace_id, concurrency=5, egress_allowlist=[])
            session.add(row)
    except IntegrityError:
        row = await session.get(WorkspaceSettings, workspace_id, populate_existing=True)
        assert row is not None
    return row


async def claim_next(session: AsyncSession) -> Run | None:
    """Marks the oldest queued run whose workspace is under its concurrency limit as running.
    Safe with several claimers: the status change is conditional, and so is the concurrency limit."""
    queued = (
        await session.scalars(select(Run).where(Run.status == "queued").order_by(Run.queued_at).limit(CLAIM_WINDOW))
    ).all()
    if not queued:
        return None
    workspaces = {r.workspace_id for r in queued}
    running = Counter(
        (
            await session.scalars(
                select(Run.workspace_id).where(Run.status == "running", Run.workspace_id.in_(workspaces))
            )
        ).all()
    )
    limits = dict(
        (
            await session.execute(
                select(WorkspaceSettings.workspace_id, WorkspaceSettings.concurrency).where(
                    WorkspaceSettings.workspace_id.in_(workspaces)
                )
            )
        ).all()
    )
    for run in queued:
        limit = limits.get(run.workspace_id, 5)
        if running[run.workspace_id] >= limit:
            continue
        # The counts above may be stale by now (another claimer): the limit is checked again inside the
        # update, with claims of one workspace serialised by a row lock (PostgreSQL; SQLite has one writer).
        await session.execute(
            select(Workspace.id).where(Workspace.id == run.workspace_id).with_for_update(key_share=True)
        )
        running_now = (
            select(func.count())
            .select_from(Run)
            .where(Run.workspace_id == run.workspace_id, Run.status == "running")
            .scalar_subquery()
        )
        claimed = await session.execute(
            update(Run)
            .where(Run.id == run.id, Run.status == "queued", running_now < limit)
            .values(status="running", started_at=utcnow(), attempts=Run.attempts + 1)
        )
        await session.commit()
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            await session.refresh(run)
            return run
    return None


async def finish_run(session: AsyncSession, *, run_id: str, outcome: RunOutcome) -> None:
    await session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == "running")
        .values(status=outcome.status, error=outcome.error, path=outcome.path, finished_at=utcnow())
    )
    # A run canceled meanwhile keeps its status, reason and time; record how far it got.
    await session.execute(update(Run).where(Run.id == run_id, Run.status == "canceled").values(path=outcome.path))
    await session.commit()


def step_row(run_id: str, step: StepRecord) -> RunStep:
    return RunStep(
        run_id=run_id,
        seq=step.seq,
        node_id=step.node_id,
        node_name=step.node_name,
        node_type=step.node_type,
        status=step.status,
        input=step.input,
        output=step.output,
        error=step.error,
        credentials=step.credentials,
        logs=step.logs,
        started_at=step.started_at,
        finished_at=step.finished_at,
        duration_ms=step.duration_ms,
    )


async def get_run(session: AsyncSession, *, workspace_id: str, run_id: str) -> tuple[Run, list[RunStep]]:
    run = await session.get(Run, run_id)
    if run is None or run.workspace_id != workspace_id:
        raise NotFound(RUN_NOT_FOUND)
    steps = (await session.scalars(select(RunStep).where(RunStep.run_id == run.id).order_by(RunStep.seq))).all()
    return run, list(steps)


async def list_runs(
    session: AsyncSession,
    *,
    workspace_id: str,
    status: str | None,
    workflow_id: str | None,
    before: datetime | None = None,
    limit: int = 50,
) -> list[Run]:
    query = select(Run).where(Run.workspace_id == workspace_id)
    if status:
        query = query.where(Run.status == status)
    if workflow_id:
        query = query.where(Run.workflow_id == workflow_id)
    if before:
        query = query.where(Run.queued_at < before)
    return list((await session.scalars(query.order_by(Run.queued_at.desc()).limit(limit))).all())


async def list_blocked(session: AsyncSession, *, workspace_id: str, limit: int = 100) -> list[BlockedEgress]:
    query = (
        select(BlockedEgress)
        .where(BlockedEgress.workspace_id == workspace_id)
        .order_by(BlockedEgress.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())
