"""The scheduler: fires due schedule ticks by queueing runs (trigger ``schedule``).

Several schedulers may run against one database (inside each ``serve``, or ``flowvault scheduler``
processes); each tick is fired once:

1. *claim*: one conditional UPDATE takes a lease on every due row whose lease is free or expired;
2. *fire*, per claimed row, in one transaction: advance ``next_fire_at`` — conditional on still
   holding the lease and on ``next_fire_at`` being the value claimed — then queue the run (or record
   the skip). A scheduler that lost the row changes nothing; one that dies mid-way leaves a lease
   that expires, and the tick is fired by whoever claims it next.

A tick is skipped (counted on the row and written to the audit log) while the workflow's previous
run is still queued or running. Ticks missed while no scheduler ran are fired once, not one per tick.
The clock is passed in."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flowvault.audit import service as audit
from flowvault.db.base import utcnow
from flowvault.runs.models import Run
from flowvault.runs.service import queue_run
from flowvault.triggers.models import Schedule
from flowvault.triggers.schedule import next_fire_after
from flowvault.triggers.schedules import spec_from_json
from flowvault.workflows.models import Workflow

log = logging.getLogger("flowvault.scheduler")
POLL_SECONDS = 1.0
LEASE_SECONDS = 60.0
TRIGGER = "schedule"


def _nothing() -> None:
    return None


@dataclass
class TickReport:
    fired: list[str] = field(default_factory=list)
    """Ids of the runs queued."""
    skipped: list[str] = field(default_factory=list)
    """Ids of the workflows whose tick was skipped (previous run still queued or running)."""


class Scheduler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = utcnow,
        on_queued: Callable[[], None] = _nothing,
        owner: str | None = None,
        poll_seconds: float = POLL_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.on_queued = on_queued
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.poll_seconds = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> TickReport:
        """Fires every tick due now."""
        now = self.clock()
        report = TickReport()
        for workflow_id, due, spec in await self._claim(now):
            await self._fire(workflow_id, due, spec, now, report)
        if report.fired:
            self.on_queued()
        return report

    async def _claim(self, now: datetime) -> list[tuple[str, datetime, dict[str, Any]]]:
        async with self.sessions() as session:
            claimed = await session.execute(
                update(Schedule)
                .where(
                    Schedule.next_fire_at <= now,
                    or_(Schedule.lease_expires_at.is_(None), Schedule.lease_expires_at < now),
                )
                .values(lease_owner=self.owner, lease_expires_at=now + self.lease)
                .returning(Schedule.workflow_id, Schedule.next_fire_at, Schedule.spec)
                .execution_options(synchronize_session=False)
            )
            rows = [(r.workflow_id, r.next_fire_at, r.spec) for r in claimed]
            await session.commit()
        return rows

    async def _fire(
        self, workflow_id: str, due: datetime, spec: dict[str, Any], now: datetime, report: TickReport
    ) -> None:
        next_fire_at = next_fire_after(spec_from_json(spec), max(now, due))
        async with self.sessions() as session:
            # The write comes first in the transaction (SQLite: take the write lock before reading more).
            advanced = await session.execute(
                update(Schedule)
                .where(
                    Schedule.workflow_id == workflow_id,
                    Schedule.lease_owner == self.owner,
                    Schedule.next_fire_at == due,
                )
                .values(next_fire_at=next_fire_at, lease_owner=None, lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )
            if advanced.rowcount != 1:  # type: ignore[attr-defined]
                await session.rollback()
                return
            workflow = await session.get(Workflow, workflow_id)
            if workflow is None or not workflow.enabled:
                await session.commit()
                return
            previous = await session.scalar(
                select(Run.id).where(Run.workflow_id == workflow_id, Run.status.in_(("queued", "running"))).limit(1)
            )
            if previous is not None:
                await session.execute(
                    update(Schedule)
                    .where(Schedule.workflow_id == workflow_id)
                    .values(skipped_ticks=Schedule.skipped_ticks + 1)
                    .execution_options(synchronize_session=False)
                )
                audit.record(
                    session,
                    workspace_id=workflow.workspace_id,
                    actor=None,
                    action="schedule.tick_skipped",
                    target_type="workflow",
                    target_id=workflow_id,
                    details={"scheduled_for": due.isoformat(), "previous_run_id": previous},
                )
                await session.commit()
                report.skipped.append(workflow_id)
                return
            await session.execute(
                update(Schedule)
                .where(Schedule.workflow_id == workflow_id)
                .values(last_fired_at=now)
                .execution_options(synchronize_session=False)
            )
            run = await queue_run(
                session,
                workflow=workflow,
                trigger=TRIGGER,
                run_input={"scheduled_for": due.isoformat(), "fired_at": now.isoformat()},
                actor_id=None,
            )
            report.fired.append(run.id)

    async def run(self) -> None:
        """Fires due ticks until canceled."""
        log.info("scheduler %s started", self.owner)
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler %s could not fire due ticks", self.owner)
            await asyncio.sleep(self.poll_seconds)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="flowvault-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
