"""Run records: queue, claim, finish, query; the blocked-egress log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

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
DEFAULT_CONCURRENCY = 5


async def queue_run(
    session: AsyncSession, *, workflow: Workflow, trigger: str, run_input: dict[str, Any], actor_id: str | None
) -> Run:
    return await queue(
        session,
        workspace_id=workflow.workspace_id,
        workflow_id=workflow.id,
        workflow_version=workflow.version,
        trigger=trigger,
        run_input=run_input,
        actor_id=actor_id,
    )


async def queue(
    session: AsyncSession,
    *,
    workspace_id: str,
    workflow_id: str,
    workflow_version: int,
    trigger: str,
    run_input: dict[str, Any],
    actor_id: str | None,
) -> Run:
    """Adds a queued run and commits (a workflow deleted meanwhile makes the commit fail: IntegrityError)."""
    run = Run(
        workspace_id=workspace_id,
        workflow_id=workflow_id,
        workflow_version=workflow_version,
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
            row = WorkspaceSettings(workspace_id=workspace_id, concurrency=DEFAULT_CONCURRENCY, egress_allowlist=[])
            session.add(row)
    except IntegrityError:
        row = await session.get(WorkspaceSettings, workspace_id, populate_existing=True)
        assert row is not None
    return row


@dataclass(frozen=True)
class Claim:
    """A run this process now executes, with what its execution needs from the claiming transaction."""

    run: Run
    workflow_version: int | None
    """The workflow's current version; None when the workflow was deleted."""
    allowlist: tuple[str, ...]
    """The workspace's egress allowlist."""


def _running_in(workspace_id: Any) -> Any:
    """How many runs of the workspace (an id, or a column to correlate with) are running."""
    running = aliased(Run)
    return (
        select(func.count())
        .select_from(running)
        .where(running.workspace_id == workspace_id, running.status == "running")
        .scalar_subquery()
    )


async def claim_batch(session: AsyncSession, slots: int) -> list[Claim]:
    """Marks up to ``slots`` of the oldest queued runs whose workspaces are under their concurrency
    limits as running, in one transaction. Safe with several claimers (other processes): each status
    change is conditional, and so is the concurrency limit."""
    if slots < 1:
        return []
    lock_rows = session.get_bind().dialect.name != "sqlite"  # SQLite has one writer at a time anyway
    # Only runs of workspaces under their limit: a long backlog in a full workspace holds up no other.
    limit = func.coalesce(WorkspaceSettings.concurrency, DEFAULT_CONCURRENCY)
    candidates = (
        select(
            Run.id,
            Run.workspace_id,
            Workflow.version,
            WorkspaceSettings.concurrency,
            WorkspaceSettings.egress_allowlist,
        )
        .outerjoin(Workflow, Workflow.id == Run.workflow_id)
        .outerjoin(WorkspaceSettings, WorkspaceSettings.workspace_id == Run.workspace_id)
        .where(Run.status == "queued", _running_in(Run.workspace_id) < limit)
        .order_by(Run.queued_at)
    )
    if lock_rows:
        # Claimers working at once take different runs: each locks a few of the oldest queued runs and
        # skips those another claimer has locked (a short window: locked runs wait for this claim).
        candidates = candidates.limit(max(4 * slots, 8)).with_for_update(of=Run, skip_locked=True)
    else:
        candidates = candidates.limit(max(CLAIM_WINDOW, slots))
    window = (await session.execute(candidates)).all()
    claims: list[Claim] = []
    full: set[str] = set()
    locked: set[str] = set()
    for run_id, workspace_id, version, concurrency, allowlist in window:
        if len(claims) == slots:
            break
        if workspace_id in full:
            continue
        workspace_limit = DEFAULT_CONCURRENCY if concurrency is None else concurrency
        # Claims of one workspace are serialised by a row lock, so the count inside the update is current.
        if lock_rows and workspace_id not in locked:
            await session.execute(
                select(Workspace.id).where(Workspace.id == workspace_id).with_for_update(key_share=True)
            )
            locked.add(workspace_id)
        run = (
            await session.scalars(
                update(Run)
                .where(Run.id == run_id, Run.status == "queued", _running_in(workspace_id) < workspace_limit)
                .values(status="running", started_at=utcnow(), attempts=Run.attempts + 1)
                .returning(Run),
                execution_options={"synchronize_session": False},
            )
        ).one_or_none()
        if run is None:
            if await session.scalar(select(Run.status).where(Run.id == run_id)) == "queued":
                full.add(workspace_id)  # its workspace is full; else another claimer took it: try the next
            continue
        claims.append(
            Claim(run=run, workflow_version=version, allowlist=tuple(str(h) for h in allowlist or ()))
        )
    await session.commit()
    return claims


async def claim_next(session: AsyncSession) -> Run | None:
    """The oldest claimable queued run, now running (see :func:`claim_batch`)."""
    claims = await claim_batch(session, 1)
    return claims[0].run if claims else None


async def finish_run(
    session: AsyncSession,
    *,
    run_id: str,
    attempt: int,
    outcome: RunOutcome,
    pending: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> bool:
    """Records the outcome of ``attempt`` with the rows the run still had to write, in one transaction.
    False (and nothing written) when another attempt holds the run now: a stalled worker whose lease was
    taken over must not overwrite the run it lost."""
    ours = Run.attempts == attempt
    finished = await session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == "running", ours)
        .values(status=outcome.status, error=outcome.error, path=outcome.path, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if finished.rowcount != 1:  # type: ignore[attr-defined]
        # A run canceled meanwhile keeps its status, reason and time; record how far it got.
        canceled = await session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status == "canceled", ours)
            .values(path=outcome.path)
            .execution_options(synchronize_session=False)
        )
        if canceled.rowcount != 1:  # type: ignore[attr-defined]
            await session.rollback()
            return False
    if pending is not None:
        await pending(session)
    await session.commit()
    return True


def step_values(run_id: str, step: StepRecord) -> dict[str, Any]:
    """The ``run_steps`` row of a step, for a bulk insert."""
    return {
        "run_id": run_id,
        "seq": step.seq,
        "node_id": step.node_id,
        "node_name": step.node_name,
        "node_type": step.node_type,
        "status": step.status,
        "input": step.input,
        "output": step.output,
        "error": step.error,
        "credentials": step.credentials,
        "logs": step.logs,
        "started_at": step.started_at,
        "finished_at": step.finished_at,
        "duration_ms": step.duration_ms,
    }


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
