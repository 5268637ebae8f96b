"""What a Celery worker process does with a wake-up (``drain`` in ``dispatch/celery_app.py``), in-process on
both databases: it executes up to ``slots`` runs at once on its loop, claiming again as each finishes, until
none is left; a budget that runs out stops the claiming, and the runs it started still finish."""

from __future__ import annotations

import asyncio

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

from flowvault.app import create_app
from flowvault.auth import passwords
from flowvault.bootstrap import open_state
from flowvault.config import Settings
from flowvault.dispatch.celery_app import drain
from flowvault.runs.models import Run, RunStep
from flowvault.runs.service import queue_run
from flowvault.workflows.models import Workflow
from tests.conftest import sign_up
from tests.runs.test_cancel_and_dlq import delay_workflow, max_overlap

DELAY = 0.3


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def a_delay_workflow(settings: Settings) -> str:
    with TestClient(create_app(settings)) as client:
        return delay_workflow(sign_up(client, "owner@example.com"))
    # The app (and its embedded dispatcher) has stopped: only the drain below executes runs.


async def drained(settings: Settings, workflow_id: str, *, runs: int, slots: int, budget: float) -> tuple[
    bool, dict[str, str], list[RunStep]
]:
    """Queues ``runs`` runs, drains once; what drain returned, the runs' statuses and their Delay steps."""
    state = await open_state(settings)
    try:
        async with state.sessions() as session:
            workflow = await session.get(Workflow, workflow_id)
            assert workflow is not None
            for _ in range(runs):
                await queue_run(session, workflow=workflow, trigger="manual", run_input={"wait": DELAY}, actor_id=None)
        more = await drain(state, slots=slots, budget_seconds=budget)
        async with state.sessions() as session:
            statuses = {run_id: status for run_id, status in (await session.execute(select(Run.id, Run.status))).all()}
            delays = list((await session.scalars(select(RunStep).where(RunStep.node_id == "d"))).all())
        return more, statuses, delays
    finally:
        await state.engine.dispose()


def test_a_process_executes_its_slots_at_once_until_none_is_left(settings: Settings) -> None:
    workflow_id = a_delay_workflow(settings)
    more, statuses, delays = asyncio.run(drained(settings, workflow_id, runs=7, slots=3, budget=60))
    assert more is False
    assert sorted(statuses.values()) == ["succeeded"] * 7
    assert max_overlap([(step.started_at, step.finished_at) for step in delays]) == 3, "three at once, never more"


def test_a_spent_budget_stops_the_claiming_and_lets_started_runs_finish(settings: Settings) -> None:
    workflow_id = a_delay_workflow(settings)
    more, statuses, delays = asyncio.run(drained(settings, workflow_id, runs=5, slots=2, budget=DELAY / 2))
    assert more is True, "there may be more: the caller sends another wake-up"
    assert sorted(statuses.values()) == ["queued"] * 3 + ["succeeded"] * 2
    assert len(delays) == 2
