"""Run leases for the Celery executor (SPEC §8): the worker executing a run renews ``heartbeat_at``;
a running run whose lease has not been renewed for ``lease_seconds`` was orphaned by a lost worker
(SIGKILL, a dead machine) and is queued again, or failed once it has been tried ``max_attempts`` times.

Nothing runs twice at once: a live worker renews its lease every third of ``lease_seconds``, a run is
taken back only after a whole lease without renewal, and a worker that finds its lease taken stops.
The steps an interrupted attempt recorded stay in the run's step list, renumbered before the new
attempt's steps and marked with the attempt that ran them (the per-node idempotency note)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.db.base import utcnow
from flowvault.deps import AppState
from flowvault.runs.execute import execute_run
from flowvault.runs.models import Run, RunStep
from flowvault.runs.service import Claim

log = logging.getLogger("flowvault.runs")
ATTEMPT_SEQ_BASE = 100_000
"""Steps of interrupted attempt ``a`` are renumbered to ``seq - ATTEMPT_SEQ_BASE + a * 1000`` (negative,
ordered by attempt, before the steps of the attempt that finishes the run)."""


def _attempt_seq(seq: int, attempt: int) -> int:
    return seq - ATTEMPT_SEQ_BASE + attempt * 1000


async def reclaim_stale(session: AsyncSession, *, lease_seconds: float, max_attempts: int) -> int:
    """Queues again (or fails) the running runs whose lease expired; returns how many."""
    cutoff = utcnow() - timedelta(seconds=lease_seconds)
    expired = and_(
        Run.status == "running",
        Run.started_at < cutoff,
        or_(Run.heartbeat_at.is_(None), Run.heartbeat_at < cutoff),
    )
    stale = (await session.execute(select(Run.id, Run.attempts).where(expired))).all()
    taken = 0
    for run_id, attempt in stale:
        this_attempt = select(RunStep).where(RunStep.run_id == run_id, RunStep.seq > 0).order_by(RunStep.seq)
        steps = (await session.scalars(this_attempt)).all()
        ran = ", ".join(f"{s.node_name} ({s.node_id}, {s.status})" for s in steps) or "none"
        lost = f"Attempt {attempt} was interrupted: its worker stopped renewing the run for {lease_seconds:g} s."
        if attempt >= max_attempts:
            values = {
                "status": "failed",
                "finished_at": utcnow(),
                "error": f"{lost} The run was interrupted {attempt} times and is not retried again "
                f"(dead-lettered). Nodes that ran in the last attempt: {ran}.",
            }
        else:
            values = {
                "status": "queued",
                "heartbeat_at": None,
                "error": f"{lost} Retried as attempt {attempt + 1}; nodes that already ran in attempt {attempt} "
                f"(they may have had effects): {ran}.",
            }
        # Conditional on the same attempt and an expired lease: of several reclaimers, one takes it.
        result = await session.execute(
            update(Run).where(Run.id == run_id, Run.attempts == attempt, expired).values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            await session.rollback()
            continue
        for step in steps:
            step.seq = _attempt_seq(step.seq, attempt)
            step.logs = [*step.logs, f"Ran in attempt {attempt}, which was interrupted (worker lost)."]
        await session.commit()
        taken += 1
        log.warning("run %s: attempt %d was interrupted (lease expired); %s", run_id, attempt, values["status"])
    return taken


async def _renew(state: AppState, run: Run, interval: float, lost: asyncio.Event) -> None:
    # The claim set started_at, which counts as the first renewal.
    while True:
        await asyncio.sleep(interval)
        try:
            if await _renew_once(state, run):
                lost.set()  # another worker took the run over: stop
                return
        except Exception as exc:  # a database hiccup: try again before the lease runs out
            log.warning("run %s: could not renew the lease: %s", run.id, type(exc).__name__)


async def _renew_once(state: AppState, run: Run) -> bool:
    """Renews the lease; True when another attempt holds the run now."""
    async with state.sessions() as session:
        renewed = await session.execute(
            update(Run)
            .where(Run.id == run.id, Run.status == "running", Run.attempts == run.attempts)
            .values(heartbeat_at=utcnow())
        )
        await session.commit()
        if renewed.rowcount == 1:  # type: ignore[attr-defined]
            return False
        current = await session.scalar(select(Run.attempts).where(Run.id == run.id, Run.status == "running"))
        return current is not None and current != run.attempts


async def execute_leased(state: AppState, claim: Claim, *, lease_seconds: float) -> None:
    """Executes a claimed run while renewing its lease; stops if the lease is taken over."""
    run = claim.run
    lost = asyncio.Event()
    renew = asyncio.create_task(_renew(state, run, lease_seconds / 3, lost))
    work = asyncio.create_task(execute_run(state, claim))
    watch = asyncio.create_task(lost.wait())
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        if lost.is_set() and not work.done():
            log.error("run %s: the lease of attempt %d was taken over; stopping this attempt", run.id, run.attempts)
    finally:
        for task in (renew, work, watch):
            task.cancel()
        for task in (renew, work, watch):
            with contextlib.suppress(asyncio.CancelledError):
                await task
