"""Helpers for the schedule tests: workflows with a Schedule trigger made through the API (by a server
that is then stopped), and schedulers with an injected clock against the same database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from flowvault.app import create_app
from flowvault.bootstrap import open_state
from flowvault.config import Settings
from flowvault.runs.models import Run
from flowvault.triggers.models import Schedule
from flowvault.triggers.scheduler import Scheduler
from tests.conftest import Actor, sign_up

T = TypeVar("T")
Sessions = async_sessionmaker[AsyncSession]


def schedule_graph(**config: Any) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "t", "type": "schedule_trigger", "name": "Every morning", "config": config},
            {"id": "f", "type": "formatter", "name": "Say when",
             "config": {"operation": "upper", "value": "due {{trigger.scheduled_for}}"}},
        ],
        "edges": [{"source": "t", "target": "f"}],
    }


class Clock:
    """An injected clock: it reads ``now`` and moves only when told."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def server(settings: Settings, actor: Actor | None = None) -> Iterator[Actor]:
    """A server for the duration of the block; the actor signed up on first use."""
    with TestClient(create_app(settings)) as client:
        if actor is None:
            yield sign_up(client, "scheduler@example.com")
        else:
            yield Actor(client, actor.id, actor.email, actor.token, actor.workspace_id)


def save_workflow(actor: Actor, graph: dict[str, Any], *, enabled: bool = True, name: str = "Morning report") -> str:
    response = actor.post(f"/api/v1/workspaces/{actor.workspace_id}/workflows",
                          json={"name": name, "enabled": enabled, "graph": graph})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def update_workflow(actor: Actor, workflow_id: str, **changes: Any) -> None:
    response = actor.put(f"/api/v1/workspaces/{actor.workspace_id}/workflows/{workflow_id}", json=changes)
    assert response.status_code == 200, response.text


def with_db(settings: Settings, work: Callable[[Sessions], Awaitable[T]]) -> T:
    """Runs ``work`` against the database in a fresh process state (as after a restart)."""

    async def go() -> T:
        state = await open_state(settings)
        try:
            return await work(state.sessions)
        finally:
            await state.engine.dispose()

    return asyncio.run(go())


def tick(settings: Settings, at: datetime, owner: str = "test-scheduler") -> tuple[list[str], list[str]]:
    """One scheduler tick at ``at`` (fresh state: nothing is kept in memory between ticks)."""

    async def work(sessions: Sessions) -> tuple[list[str], list[str]]:
        report = await Scheduler(sessions, clock=Clock(at), owner=owner).tick()
        return report.fired, report.skipped

    return with_db(settings, work)


def schedule_row(settings: Settings, workflow_id: str) -> Schedule | None:
    async def work(sessions: Sessions) -> Schedule | None:
        async with sessions() as session:
            return await session.get(Schedule, workflow_id)

    return with_db(settings, work)


def runs_of(settings: Settings, workflow_id: str) -> list[Run]:
    async def work(sessions: Sessions) -> list[Run]:
        async with sessions() as session:
            query = select(Run).where(Run.workflow_id == workflow_id).order_by(Run.queued_at)
            return list((await session.scalars(query)).all())

    return with_db(settings, work)


def set_status(settings: Settings, run_ids: list[str], status: str) -> None:
    async def work(sessions: Sessions) -> None:
        async with sessions() as session:
            await session.execute(update(Run).where(Run.id.in_(run_ids)).values(status=status))
            await session.commit()

    with_db(settings, work)
