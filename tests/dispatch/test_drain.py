"""What a Celery worker process does with a wake-up (``drain`` in ``dispatch/celery_app.py``), in-process on
both databases: it executes up to ``slots`` runs at once on its loop, claiming again as each finishes and
while a slot is free, until none is left; it hands over once its budget is spent and none of its runs is
executing; a warm shutdown stops the claiming at once, and the runs it started still finish."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

from flowvault.app import create_app
from flowvault.auth import passwords
from flowvault.bootstrap import open_state
from flowvault.config import Settings
from flowvault.dispatch import celery_app
from flowvault.dispatch.celery_app import drain, new_event_loop
from flowvault.runs.models import Run, RunStep
from flowvault.runs.service import claim_and_look, queue_run
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


async def drained(
    settings: Settings, workflow_id: str, *, runs: int, slots: int, budget: float = 60, stop_after: float | None = None
) -> tuple[bool, dict[str, str], list[RunStep]]:
    """Queues ``runs`` runs, drains once (a warm shutdown beginning ``stop_after`` seconds in); what drain
    returned, the runs' statuses and their Delay steps."""
    state = await open_state(settings)
    try:
        async with state.sessions() as session:
            workflow = await session.get(Workflow, workflow_id)
            assert workflow is not None
            for _ in range(runs):
                await queue_run(session, workflow=workflow, trigger="manual", run_input={"wait": DELAY}, actor_id=None)
        shutting_down = asyncio.Event()
        if stop_after is not None:
            asyncio.get_running_loop().call_later(stop_after, shutting_down.set)
        more = await drain(state, slots=slots, budget_seconds=budget, stopping=shutting_down.is_set)
        async with state.sessions() as session:
            statuses = {run_id: status for run_id, status in (await session.execute(select(Run.id, Run.status))).all()}
            delays = list((await session.scalars(select(RunStep).where(RunStep.node_id == "d"))).all())
        return more, statuses, delays
    finally:
        await state.engine.dispose()


def test_a_process_executes_its_slots_at_once_until_none_is_left(settings: Settings) -> None:
    workflow_id = a_delay_workflow(settings)
    more, statuses, delays = asyncio.run(drained(settings, workflow_id, runs=7, slots=3))
    assert more is False
    assert sorted(statuses.values()) == ["succeeded"] * 7
    assert max_overlap([(step.started_at, step.finished_at) for step in delays]) == 3, "three at once, never more"


def test_a_spent_budget_hands_over_once_no_run_is_executing(settings: Settings) -> None:
    workflow_id = a_delay_workflow(settings)
    more, statuses, delays = asyncio.run(drained(settings, workflow_id, runs=4, slots=1, budget=DELAY / 2))
    assert more is True, "there may be more: the caller sends another wake-up"
    assert sorted(statuses.values()) == ["queued"] * 3 + ["succeeded"]
    assert len(delays) == 1


def test_a_warm_shutdown_stops_the_claiming_and_lets_started_runs_finish(settings: Settings) -> None:
    workflow_id = a_delay_workflow(settings)
    more, statuses, delays = asyncio.run(drained(settings, workflow_id, runs=5, slots=2, stop_after=DELAY / 2))
    assert more is True
    assert sorted(statuses.values()) == ["queued"] * 3 + ["succeeded"] * 2
    assert len(delays) == 2


def test_runs_queued_while_a_slot_is_free_start_before_the_running_one_ends(settings: Settings) -> None:
    """A run executes (a long Delay) with two slots free; runs queued meanwhile start within the claim
    poll, not when the long one ends (their wake-up cannot reach a process that is draining)."""
    workflow_id = a_delay_workflow(settings)

    async def scenario() -> dict[str, Run]:
        state = await open_state(settings)
        try:
            async with state.sessions() as session:
                workflow = await session.get(Workflow, workflow_id)
                assert workflow is not None
                long = await queue_run(session, workflow=workflow, trigger="manual", run_input={"wait": 3},
                                       actor_id=None)

            async def queue_short_ones_later() -> list[str]:
                await asyncio.sleep(0.3)
                async with state.sessions() as session:
                    assert workflow is not None
                    return [
                        (await queue_run(session, workflow=workflow, trigger="manual", run_input={"wait": 0.05},
                                         actor_id=None)).id
                        for _ in range(2)
                    ]

            later = asyncio.create_task(queue_short_ones_later())
            assert await drain(state, slots=3) is False
            short = await later
            async with state.sessions() as session:
                rows = (await session.scalars(select(Run).where(Run.id.in_([long.id, *short])))).all()
            return {("long" if run.id == long.id else run.id): run for run in rows}
        finally:
            await state.engine.dispose()

    runs = asyncio.run(scenario())
    long = runs.pop("long")
    assert long.status == "succeeded" and long.finished_at is not None
    assert len(runs) == 2
    for run in runs.values():
        assert run.status == "succeeded" and run.finished_at is not None
        assert run.finished_at < long.finished_at, "a short run waited for the long one to end"


def test_a_worker_process_runs_its_loop_on_uvloop_when_installed_else_on_asyncios(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As serve does under uvicorn: the worker's runs cost less CPU on uvloop (docs/PERFORMANCE.md)."""
    import uvloop

    loop = new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if it were not installed: the import fails
    loop = new_event_loop()
    try:
        assert isinstance(loop, asyncio.BaseEventLoop) and not isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_with_runs_queued_behind_its_own_a_process_claims_them_a_few_at_a_time(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim pass costs two round trips whatever it claims: while runs are queued behind its own, a
    process waits for half its slots to be free (``BATCH_SECONDS`` at most) before its next pass."""
    workflow_id = a_delay_workflow(settings)
    passes: list[tuple[int, bool]] = []

    async def counted(*args: Any) -> Any:
        claims, backlog = await claim_and_look(*args)
        passes.append((len(claims), backlog))
        return claims, backlog

    monkeypatch.setattr(celery_app, "claim_and_look", counted)
    monkeypatch.setattr(celery_app, "BATCH_SECONDS", 30.0)  # never reached here: the slots decide
    more, statuses, _ = asyncio.run(drained(settings, workflow_id, runs=12, slots=4))
    assert more is False and sorted(statuses.values()) == ["succeeded"] * 12
    assert passes[0] == (4, True)
    pairs = zip(passes[1:], passes, strict=False)
    after_backlog = [(claimed, left) for (claimed, left), (_, backlog) in pairs if backlog]
    # Two or more a pass, unless fewer were left (the pass that took the last ones left none behind).
    assert after_backlog and all(claimed >= 2 or not left for claimed, left in after_backlog), passes
    # The first four, then two or more a pass. Once none is queued, each run that finishes frees a slot and
    # its pass claims nothing (how many such passes depends on how far apart the last runs finish).
    assert len([claimed for claimed, _ in passes if claimed]) <= 1 + 8 // 2, passes
