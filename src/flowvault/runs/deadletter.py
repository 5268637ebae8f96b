"""The dead-letter queue (SPEC §5): the workspace's failed runs, each with its reason, until it is
requeued or cleared.

It is a view over the run records, not a copy: a failed run is in the queue while it has been
neither requeued (``requeued_as_id``) nor cleared (``dead_letter_cleared_at``). Requeueing creates a
new queued run with the same input and trigger (``requeued_from_id`` points back); clearing takes
entries out of the queue. Neither touches the run history: the failed runs stay listed under
``/runs`` with their steps. A deleted workflow takes its runs, and so its entries, with it."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.audit import service as audit
from flowvault.db.base import utcnow
from flowvault.errors import Conflict
from flowvault.nodes.registry import node_type
from flowvault.runs.models import Run, RunStep
from flowvault.runs.service import get_run
from flowvault.workflows.models import Workflow
from flowvault.workspaces.service import Member

IN_QUEUE = (Run.status == "failed", Run.requeued_as_id.is_(None), Run.dead_letter_cleared_at.is_(None))


async def list_entries(session: AsyncSession, *, workspace_id: str, limit: int = 100) -> list[tuple[Run, str]]:
    """(run, workflow name), most recently failed first."""
    rows = await session.execute(
        select(Run, Workflow.name)
        .join(Workflow, Workflow.id == Run.workflow_id)
        .where(Run.workspace_id == workspace_id, *IN_QUEUE)
        .order_by(Run.finished_at.desc(), Run.id)
        .limit(limit)
    )
    return [(run, name) for run, name in rows.all()]


async def _gone_nodes(session: AsyncSession, run: Run, workflow: Workflow) -> list[str]:
    """The nodes this run went through that the workflow no longer has (removed, retyped, or of a
    type this server no longer knows), by the name they had."""
    current = {n.get("id"): n.get("type") for n in workflow.graph.get("nodes", [])}
    steps = (
        await session.execute(
            select(RunStep.node_id, RunStep.node_name, RunStep.node_type).where(RunStep.run_id == run.id)
        )
    ).all()
    ran = {node_id: (name, kind) for node_id, name, kind in steps}
    gone = []
    for node_id in run.path:
        name, kind = ran.get(node_id, (node_id, None))
        now = current.get(node_id)
        if now is None or (kind is not None and now != kind) or node_type(str(now)) is None:
            gone.append(f"'{name}' ({node_id})")
    return gone


async def requeue(session: AsyncSession, *, member: Member, run_id: str) -> Run:
    member.require_editor("requeue runs")
    failed, _steps = await get_run(session, workspace_id=member.workspace.id, run_id=run_id)
    if failed.status != "failed":
        raise Conflict(f"Only failed runs can be requeued; this one is {failed.status}.", extra={"code": "not_failed"})
    if failed.requeued_as_id is not None:
        raise Conflict(
            f"This run was already requeued as run {failed.requeued_as_id}.",
            extra={"code": "already_requeued", "requeued_as_id": failed.requeued_as_id},
        )
    workflow = await session.get(Workflow, failed.workflow_id)
    if workflow is None:
        raise Conflict("The workflow of this run was deleted, so it cannot run again.", extra={"code": "workflow_gone"})
    gone = await _gone_nodes(session, failed, workflow)
    if gone:
        raise Conflict(
            f"The workflow no longer has node(s) {', '.join(gone)} that this run went through, so requeueing would "
            "not repeat it. Start a new run of the workflow instead.",
            extra={"code": "node_gone"},
        )
    run = Run(
        workspace_id=failed.workspace_id,
        workflow_id=workflow.id,
        workflow_version=workflow.version,
        trigger=failed.trigger,
        input=failed.input,
        status="queued",
        created_by_id=member.user.id,
        queued_at=utcnow(),
        requeued_from_id=failed.id,
    )
    session.add(run)
    await session.flush()
    marked = await session.execute(
        update(Run).where(Run.id == failed.id, Run.requeued_as_id.is_(None)).values(requeued_as_id=run.id)
    )
    if marked.rowcount != 1:  # type: ignore[attr-defined]  # requeued at the same moment by someone else
        await session.rollback()
        raise Conflict("This run was just requeued by someone else.", extra={"code": "already_requeued"})
    await session.commit()
    return run


async def clear(session: AsyncSession, *, member: Member, run_id: str | None = None) -> int:
    """Takes every entry (or one) out of the queue; the runs stay in the history. Returns how many."""
    member.require_manager("clear the dead-letter queue")
    query = update(Run).where(Run.workspace_id == member.workspace.id, *IN_QUEUE)
    if run_id is not None:
        await get_run(session, workspace_id=member.workspace.id, run_id=run_id)
        query = query.where(Run.id == run_id)
    cleared = int((await session.execute(query.values(dead_letter_cleared_at=utcnow()))).rowcount or 0)  # type: ignore[attr-defined]
    audit.record(
        session,
        workspace_id=member.workspace.id,
        actor=member.user,
        action="dead_letter.cleared",
        target_type="run" if run_id else "workspace",
        target_id=run_id or member.workspace.id,
        details={"cleared": cleared},
    )
    await session.commit()
    return cleared
