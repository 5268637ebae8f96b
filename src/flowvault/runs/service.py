"""Run records: queue, claim, finish, query; the blocked-egress log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, Table, bindparam, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.db.base import new_id, table_of, utcnow
from flowvault.db.compiled import Bound, RowsUnchanged
from flowvault.db.writes import SessionWrites, Writes, WriteTransactions
from flowvault.engine.records import RunOutcome, StepRecord
from flowvault.errors import NotFound, ValidationFailed
from flowvault.runs.models import BlockedEgress, Run, RunStep
from flowvault.workflows.models import Workflow
from flowvault.workspaces.models import Workspace, WorkspaceSettings
from flowvault.workspaces.service import Member

RUN_NOT_FOUND = "Run not found in this workspace."
MAX_INPUT_BYTES = 1_000_000
CLAIM_SLACK = 2
"""Queued runs a claim reads beyond its free slots on SQLite (PostgreSQL reads 4 per slot, some of them
locked by other claimers)."""
CLAIM_PASSES = 4
"""Windows a claim reads at most: the next one when workspaces filled up or other claimers took runs."""
DEFAULT_CONCURRENCY = 5


# The run path's statements, built once: Core statements on the tables (no ORM state to build per call),
# whose SQL is compiled once and found again by the same statement object.
_runs = table_of(Run)
_running = _runs.alias("running")
_INSERT_RUN = insert(_runs)


def _running_in(workspace_id: Any) -> Any:
    """How many runs of the workspace (given as a bind parameter) are running."""
    return (
        select(func.count())
        .select_from(_running)
        .where(_running.c.workspace_id == workspace_id, _running.c.status == "running")
        .scalar_subquery()
    )


def _full_workspaces(settings: Table) -> Select[Any]:
    """The workspaces running as many runs as their limit allows. Counted once per claim: a count per
    candidate run would read every index entry of the workspace's running runs again, dead ones too
    on PostgreSQL (each run passes through "running"), for each of the window's rows."""
    limits = settings.alias("limits")
    return (
        select(_running.c.workspace_id)
        .select_from(_running.outerjoin(limits, limits.c.workspace_id == _running.c.workspace_id))
        .where(_running.c.status == "running")
        .group_by(_running.c.workspace_id, limits.c.concurrency)
        .having(func.count() >= func.coalesce(limits.c.concurrency, DEFAULT_CONCURRENCY))
    )


@cache
def _claim_window(lock_rows: bool, size: int) -> Select[Any]:
    """The oldest queued runs of workspaces under their limit (a long backlog in a full workspace holds
    up no other), with what their execution needs."""
    settings = table_of(WorkspaceSettings)
    workflows = table_of(Workflow)
    candidates = (
        select(
            _runs.c.id,
            _runs.c.workspace_id,
            _runs.c.workflow_id,
            workflows.c.version,
            settings.c.concurrency,
            settings.c.egress_allowlist,
        )
        .select_from(
            _runs.outerjoin(workflows, workflows.c.id == _runs.c.workflow_id).outerjoin(
                settings, settings.c.workspace_id == _runs.c.workspace_id
            )
        )
        .where(_runs.c.status == "queued", _runs.c.workspace_id.not_in(_full_workspaces(settings)))
        .order_by(_runs.c.queued_at)
        .limit(size)
    )
    if lock_rows:
        # Claimers working at once take different runs: each locks a few of the oldest queued runs and
        # skips those another claimer has locked (a short window: locked runs wait for this claim).
        candidates = candidates.with_for_update(of=_runs, skip_locked=True)
    return candidates


_workspaces = table_of(Workspace)
_LOCK_WORKSPACE = (
    select(_workspaces.c.id).where(_workspaces.c.id == bindparam("workspace_id")).with_for_update(key_share=True)
)
_CLAIM_RUN = (
    update(_runs)
    .where(
        _runs.c.id == bindparam("run_id"),
        _runs.c.status == "queued",
        _running_in(bindparam("of_workspace")) < bindparam("limit"),
    )
    .values(status="running", started_at=bindparam("now"), attempts=_runs.c.attempts + 1)
    .returning(*_runs.c)
)
_ATTEMPT = (_runs.c.id == bindparam("run_id"), _runs.c.attempts == bindparam("attempt"))
_STILL_RUNNING = _runs.c.status == "running"
# The outcome of a running run; a run canceled meanwhile keeps its status, reason and time, and gets
# how far it went. One statement either way, which changes no row when another attempt holds the run.
_FINISH_RUN = (
    update(_runs)
    .where(*_ATTEMPT, or_(_STILL_RUNNING, _runs.c.status == "canceled"))  # not in_(): no expanding parameter
    .values(
        status=case((_STILL_RUNNING, bindparam("outcome", type_=_runs.c.status.type)), else_=_runs.c.status),
        error=case((_STILL_RUNNING, bindparam("error", type_=_runs.c.error.type)), else_=_runs.c.error),
        finished_at=case(
            (_STILL_RUNNING, bindparam("now", type_=_runs.c.finished_at.type)), else_=_runs.c.finished_at
        ),
        path=bindparam("path"),
    )
)


async def queue_run(
    session: AsyncSession, *, workflow: Workflow, trigger: str, run_input: dict[str, Any], actor_id: str | None
) -> Run:
    """Queues a run of the workflow's current version and commits the session."""
    run = await queue(
        SessionWrites(session),
        workspace_id=workflow.workspace_id,
        workflow_id=workflow.id,
        workflow_version=workflow.version,
        trigger=trigger,
        run_input=run_input,
        actor_id=actor_id,
    )
    await session.commit()
    return run


async def queue(
    writes: Writes,
    *,
    workspace_id: str,
    workflow_id: str,
    workflow_version: int,
    trigger: str,
    run_input: dict[str, Any],
    actor_id: str | None,
) -> Run:
    """Adds a queued run to the caller's transaction (a workflow deleted meanwhile makes it fail:
    IntegrityError). The run returned is a plain object (one INSERT, no unit of work: the webhook path)."""
    values = {
        "id": new_id(),
        "workspace_id": workspace_id,
        "workflow_id": workflow_id,
        "workflow_version": workflow_version,
        "trigger": trigger,
        "input": run_input,
        "status": "queued",
        "path": [],
        "attempts": 0,
        "created_by_id": actor_id,
        "queued_at": utcnow(),
    }
    await writes.add(_INSERT_RUN, values)
    return Run(**values)


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
    reads: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    """The rows of the claim's ``reads`` for this run, by their keys."""


Reads = Callable[[Mapping[str, Any]], Mapping[str, Bound]]
"""What a claim also reads for a candidate run (its ``id``, ``workspace_id``, ``workflow_id`` and
``version``), by key: sent with the claims, in the same transaction."""


async def claim_batch(writes: Writes, slots: int, reads: Reads | None = None) -> list[Claim]:
    """Marks up to ``slots`` of the oldest queued runs whose workspaces are under their concurrency
    limits as running, and commits the caller's transaction. Safe with several claimers (other
    processes): each status change is conditional, and so is the concurrency limit."""
    claims, _ = await claim_and_look(writes, slots, reads)
    return claims


async def claim_and_look(writes: Writes, slots: int, reads: Reads | None = None) -> tuple[list[Claim], bool]:
    """``claim_batch``, and whether the claim saw queued runs it left (other claimers may take them).

    A pass reads a window of candidates and sends the claims of as many as there are free slots (no
    more of a workspace than its limit) with the transaction's ``COMMIT``: on PostgreSQL a pass is two
    round trips. A claim that changes no row (its workspace filled up, or another claimer took the
    run) leaves its slot to the next pass, whose window leaves out the workspaces that are full."""
    claims: list[Claim] = []
    left = False
    lock_rows = writes.dialect != "sqlite"  # SQLite has one writer at a time anyway
    for _ in range(CLAIM_PASSES):
        wanted = slots - len(claims)
        if wanted < 1:
            break
        # A window only a little larger than the free slots: a slot frees at a time, and reading a long
        # window per claim cost more than the claim.
        size = max(4 * wanted, 8) if lock_rows else wanted + CLAIM_SLACK
        window = await writes.rows(_claim_window(lock_rows, size), {})
        picked = _pick(window, wanted)
        if lock_rows:
            # Claims of one workspace are serialised by a row lock, so the count inside each update is
            # current (the updates of one flight see the ones before them). Taken in one order by every
            # claimer: two claimers never wait for each other's.
            for workspace_id in sorted({candidate["workspace_id"] for candidate in picked}):
                await writes.add(_LOCK_WORKSPACE, {"workspace_id": workspace_id})
        now = utcnow()
        extra = [reads(candidate) if reads is not None else {} for candidate in picked]
        found = await writes.commit_with(
            [(_CLAIM_RUN, _claim_params(candidate, now)) for candidate in picked]
            + [bound for of_candidate in extra for bound in of_candidate.values()]
        )
        claimed, rest = found[: len(picked)], iter(found[len(picked) :])
        taken = 0
        for candidate, rows, of_candidate in zip(picked, claimed, extra, strict=True):
            read = {key: next(rest) for key in of_candidate}
            if rows:
                taken += 1
                claims.append(
                    Claim(
                        run=Run(**rows[0]),
                        workflow_version=candidate["version"],
                        allowlist=tuple(str(h) for h in candidate["egress_allowlist"] or ()),
                        reads=read,
                    )
                )
        left = len(window) > taken
        if len(window) <= len(picked):
            break  # the window held every claimable run there was
    return claims, left


def _limit(candidate: dict[str, Any]) -> int:
    concurrency = candidate["concurrency"]
    return DEFAULT_CONCURRENCY if concurrency is None else int(concurrency)


def _pick(window: list[dict[str, Any]], wanted: int) -> list[dict[str, Any]]:
    """The oldest ``wanted`` candidates of the window, no more of a workspace than its limit."""
    picked: list[dict[str, Any]] = []
    per_workspace: dict[str, int] = {}
    for candidate in window:
        if len(picked) == wanted:
            break
        workspace_id = candidate["workspace_id"]
        if per_workspace.get(workspace_id, 0) < _limit(candidate):
            per_workspace[workspace_id] = per_workspace.get(workspace_id, 0) + 1
            picked.append(candidate)
    return picked


def _claim_params(candidate: dict[str, Any], now: datetime) -> dict[str, Any]:
    workspace_id = candidate["workspace_id"]
    return {"run_id": candidate["id"], "of_workspace": workspace_id, "limit": _limit(candidate), "now": now}


async def claim_next(writes: Writes) -> Run | None:
    """The oldest claimable queued run, now running (see :func:`claim_batch`)."""
    claims = await claim_batch(writes, 1)
    return claims[0].run if claims else None


async def finish_run(
    transactions: WriteTransactions,
    *,
    run_id: str,
    attempt: int,
    outcome: RunOutcome,
    pending: Callable[[Writes], Awaitable[None]] | None = None,
) -> bool:
    """Records the outcome of ``attempt`` with the rows the run still had to write, in one transaction
    (on PostgreSQL one flight: the outcome's check goes with them). False, and nothing written, when
    another attempt holds the run now: a stalled worker whose lease was taken over must not overwrite
    the run it lost."""
    try:
        async with transactions() as writes:
            await writes.require(
                _FINISH_RUN,
                {
                    "run_id": run_id,
                    "attempt": attempt,
                    "outcome": outcome.status,
                    "error": outcome.error,
                    "path": outcome.path,
                    "now": utcnow(),
                },
            )
            if pending is not None:
                await pending(writes)
    except RowsUnchanged:
        return False
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
