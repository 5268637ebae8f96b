"""Run leases (runs/lease.py): a running run whose lease expired is queued again with a note naming the
nodes that already ran, or dead-lettered after the last attempt; a run whose lease is fresh is left alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, select, update

from flowvault.app import create_app
from flowvault.config import Settings
from flowvault.db.base import table_of, utcnow
from flowvault.db.engine import make_engine, make_sessionmaker, sync_url
from flowvault.db.writes import Writes, direct_access
from flowvault.runs.lease import reclaim_stale
from flowvault.runs.models import Run, RunStep
from tests.conftest import Actor, sign_up

LEASE = 5.0
FLOW = {"nodes": [{"id": "t", "type": "manual_trigger", "name": "Start", "config": {}}], "edges": []}


@pytest.fixture
def actor(settings: Settings) -> Iterator[Actor]:
    # celery mode without a broker: runs are queued and nothing executes them
    with TestClient(create_app(settings.model_copy(update={"executor": "celery"}))) as client:
        yield sign_up(client, "owner@example.com")


def queued_run(actor: Actor) -> str:
    ws = actor.workspace_id
    created = actor.post(f"/api/v1/workspaces/{ws}/workflows", json={"name": "W", "graph": FLOW})
    assert created.status_code == 201, created.text
    queued = actor.post(f"/api/v1/workspaces/{ws}/workflows/{created.json()['id']}/runs", json={"input": {}})
    assert queued.status_code == 202, queued.text
    return str(queued.json()["id"])


def interrupt(settings: Settings, run_id: str, *, attempts: int, idle_seconds: float) -> None:
    """Leaves the run as a worker that died ``idle_seconds`` ago in attempt ``attempts`` would have."""
    then = utcnow() - timedelta(seconds=idle_seconds)
    engine = create_engine(sync_url(settings.resolved_database_url))
    with engine.begin() as connection:
        connection.execute(update(Run).where(Run.id == run_id).values(
            status="running", attempts=attempts, started_at=then, heartbeat_at=then))
        connection.execute(RunStep.__table__.insert().values(
            run_id=run_id, seq=1, node_id="t", node_name="Start", node_type="manual_trigger", status="succeeded",
            credentials=[], logs=[], started_at=then, finished_at=then, duration_ms=1))
    engine.dispose()


def reclaim(settings: Settings, max_attempts: int = 3) -> tuple[int, Any, list[Any]]:
    async def work() -> tuple[int, Any, list[Any]]:
        engine = make_engine(settings.resolved_database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                taken = await reclaim_stale(session, lease_seconds=LEASE, max_attempts=max_attempts)
                run = (await session.scalars(select(Run))).one()
                steps = list((await session.scalars(select(RunStep))).all())
                return taken, run, steps
        finally:
            await engine.dispose()

    return asyncio.run(work())


def test_an_expired_lease_queues_the_run_again_with_a_note(settings: Settings, actor: Actor) -> None:
    run_id = queued_run(actor)
    interrupt(settings, run_id, attempts=1, idle_seconds=LEASE * 2)
    taken, run, steps = reclaim(settings)
    assert taken == 1
    assert run.status == "queued" and run.heartbeat_at is None
    assert "Attempt 1 was interrupted" in run.error and "Start (t, succeeded)" in run.error
    assert [s.seq for s in steps] == [1 - 100_000 + 1000]
    assert steps[0].logs == ["Ran in attempt 1, which was interrupted (worker lost)."]


def test_the_last_attempt_is_dead_lettered_with_a_reason(settings: Settings, actor: Actor) -> None:
    run_id = queued_run(actor)
    interrupt(settings, run_id, attempts=3, idle_seconds=LEASE * 2)
    taken, run, _ = reclaim(settings, max_attempts=3)
    assert taken == 1
    assert run.status == "failed" and run.finished_at is not None
    assert "interrupted 3 times" in run.error and "dead-lettered" in run.error


def test_a_fresh_lease_is_left_alone(settings: Settings, actor: Actor) -> None:
    run_id = queued_run(actor)
    interrupt(settings, run_id, attempts=1, idle_seconds=LEASE / 2)
    taken, run, steps = reclaim(settings)
    assert taken == 0
    assert run.status == "running" and [s.seq for s in steps] == [1]


def test_an_attempt_whose_run_was_taken_over_cannot_finish_it(settings: Settings, actor: Actor) -> None:
    """A worker stalled past its lease (SIGSTOP, a long GC pause) wakes up after another worker took the run
    over: its outcome and the steps it still held are not written."""
    from flowvault.engine.records import RunOutcome
    from flowvault.runs.service import finish_run

    run_id = queued_run(actor)
    interrupt(settings, run_id, attempts=2, idle_seconds=0)  # attempt 2 holds the run now

    async def finish(attempt: int) -> tuple[bool, Any, int]:
        engine = make_engine(settings.resolved_database_url)
        try:
            sessions = make_sessionmaker(engine)
            transactions, _reads = direct_access(engine, sessions, sessions, pool_size=2)

            async def stale_step(w: Writes) -> None:
                await w.executemany(insert(table_of(RunStep)), [
                    {"run_id": run_id, "seq": 2, "node_id": "x", "node_name": "Late", "node_type": "formatter",
                     "status": "succeeded", "credentials": [], "logs": [], "started_at": utcnow(),
                     "finished_at": utcnow(), "duration_ms": 1}
                ])

            done = await finish_run(transactions, run_id=run_id, attempt=attempt,
                                    outcome=RunOutcome("succeeded", None, ["t", "x"]), pending=stale_step)
            async with make_sessionmaker(engine)() as session:
                run = await session.get(Run, run_id)
                steps = len((await session.scalars(select(RunStep).where(RunStep.run_id == run_id))).all())
                return done, run, steps
        finally:
            await engine.dispose()

    done, run, steps = asyncio.run(finish(1))
    assert done is False
    assert run.status == "running" and run.finished_at is None and steps == 1
    done, run, steps = asyncio.run(finish(2))
    assert done is True
    assert run.status == "succeeded" and run.path == ["t", "x"] and steps == 2
