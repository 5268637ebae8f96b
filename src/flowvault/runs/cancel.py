"""Canceling runs (SPEC §5 engine settings). The run's status in the database is the source of truth:
canceling sets it to ``canceled`` from any process, and the process executing the run stops it —
at once when the cancel came through the same process (:meth:`CancelWatch.signal`), within
``poll_seconds`` when it came from elsewhere (:meth:`CancelWatch.run` polls the runs it executes),
and in any case before the next node starts (the host checks the status between nodes)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flowvault.audit import service as audit
from flowvault.db.base import utcnow
from flowvault.errors import Conflict
from flowvault.runs.models import Run
from flowvault.runs.service import get_run
from flowvault.workspaces.service import Member

log = logging.getLogger("flowvault.runs")
ACTIVE = ("queued", "running")


class CancelWatch:
    """The cancel signals of the runs this process executes."""

    def __init__(self, poll_seconds: float = 0.5) -> None:
        self.poll_seconds = poll_seconds
        self._events: dict[str, asyncio.Event] = {}

    @contextmanager
    def watching(self, run_id: str) -> Iterator[asyncio.Event]:
        event = self._events[run_id] = asyncio.Event()
        try:
            yield event
        finally:
            self._events.pop(run_id, None)

    def signal(self, run_id: str) -> None:
        event = self._events.get(run_id)
        if event is not None:
            event.set()

    async def poll_once(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        ids = [run_id for run_id, event in self._events.items() if not event.is_set()]
        if not ids:
            return
        async with sessions() as session:
            canceled = (await session.scalars(select(Run.id).where(Run.id.in_(ids), Run.status == "canceled"))).all()
        for run_id in canceled:
            self.signal(run_id)

    async def run(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.poll_once(sessions)
            except Exception as exc:  # a database hiccup must not end the watch
                log.warning("could not poll for canceled runs: %s", type(exc).__name__)


async def cancel_run(session: AsyncSession, *, member: Member, run_id: str) -> Run:
    member.require_editor("cancel runs")
    run, _steps = await get_run(session, workspace_id=member.workspace.id, run_id=run_id)
    canceled = await session.execute(
        update(Run)
        .where(Run.id == run.id, Run.status.in_(ACTIVE))
        .values(status="canceled", finished_at=utcnow(), error=f"Canceled by {member.user.email}.")
    )
    await session.commit()
    await session.refresh(run)
    if canceled.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            f"This run has already finished ({run.status}); only queued or running runs can be canceled.",
            extra={"run_status": run.status},
        )
    return run


async def cancel_all(session: AsyncSession, *, member: Member) -> tuple[list[str], list[str]]:
    """Cancels every queued and running run of the workspace; returns (queued ids, running ids)."""
    member.require_manager("cancel all runs")
    reason = f"Canceled by {member.user.email} (cancel all)."
    done: dict[str, list[str]] = {}
    for status in ACTIVE:
        result = await session.execute(
            update(Run)
            .where(Run.workspace_id == member.workspace.id, Run.status == status)
            .values(status="canceled", finished_at=utcnow(), error=reason)
            .returning(Run.id)
        )
        done[status] = list(result.scalars().all())
    audit.record(
        session,
        workspace_id=member.workspace.id,
        actor=member.user,
        action="runs.canceled_all",
        target_type="workspace",
        target_id=member.workspace.id,
        details={"queued": len(done["queued"]), "running": len(done["running"])},
    )
    await session.commit()
    return done["queued"], done["running"]
