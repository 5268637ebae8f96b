"""The scheduler against the database (both backends), with an injected clock: ticks fire at the right
times in the workflow's time zone (DST included), an overlapping tick is skipped, two schedulers fire each
tick once, enabling/disabling a workflow schedules/unschedules it, and schedules survive restarts.

Each tick here runs in a fresh process state (new engine, new Scheduler) after the server that saved
the workflow has stopped: everything a schedule needs is in the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from sqlalchemy import func, select, update

from flowvault.audit.models import AuditEvent
from flowvault.config import Settings
from flowvault.runs.models import Run
from flowvault.triggers.models import Schedule
from flowvault.triggers.scheduler import Scheduler
from tests.triggers.schedule_helpers import (
    Clock,
    Sessions,
    runs_of,
    save_workflow,
    schedule_graph,
    schedule_row,
    server,
    set_status,
    tick,
    update_workflow,
    with_db,
)

SECOND = timedelta(seconds=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_daily_0230_berlin_fires_at_the_right_instants_across_spring_forward(settings: Settings) -> None:
    with server(settings) as actor:
        workflow_id = save_workflow(actor, schedule_graph(start="2030-03-29T02:30:00", timezone="Europe/Berlin",
                                                          every=1, unit="days"))
    expected = [
        utc("2030-03-29T01:30"),  # 02:30 CET
        utc("2030-03-30T01:30"),  # 02:30 CET
        utc("2030-03-31T01:30"),  # 02:30 does not exist that day: 03:30 CEST
        utc("2030-04-01T00:30"),  # 02:30 CEST
    ]
    row = schedule_row(settings, workflow_id)
    assert row is not None and row.next_fire_at == expected[0]
    for due in expected:
        assert tick(settings, due - SECOND) == ([], [])  # not yet
        fired, skipped = tick(settings, due)
        assert len(fired) == 1 and skipped == []
        assert tick(settings, due + SECOND) == ([], [])  # once
        set_status(settings, fired, "succeeded")
    runs = runs_of(settings, workflow_id)
    assert [r.trigger for r in runs] == ["schedule"] * 4
    assert [datetime.fromisoformat(r.input["scheduled_for"]) for r in runs] == expected
    assert [datetime.fromisoformat(r.input["fired_at"]) for r in runs] == expected


def test_daily_0230_new_york_fires_once_on_the_fall_back_day(settings: Settings) -> None:
    with server(settings) as actor:
        workflow_id = save_workflow(actor, schedule_graph(start="2030-11-02T01:30:00", timezone="America/New_York",
                                                          every=1, unit="days"))
    first_0130 = utc("2030-11-03T05:30")  # 01:30 EDT; 01:30 EST (06:30 UTC) comes an hour later and is not fired
    for due in (utc("2030-11-02T05:30"), first_0130):
        fired, _ = tick(settings, due)
        assert len(fired) == 1
        set_status(settings, fired, "succeeded")
    assert tick(settings, first_0130 + timedelta(hours=1)) == ([], [])
    row = schedule_row(settings, workflow_id)
    assert row is not None and row.next_fire_at == utc("2030-11-04T06:30")  # 01:30 EST


def test_cron_and_interval_schedules(settings: Settings) -> None:
    with server(settings) as actor:
        cron_id = save_workflow(actor, schedule_graph(start="2030-01-01T00:00:00", timezone="Europe/Berlin",
                                                      repeat="cron", cron="0 9 * * 1-5"), name="Weekdays")
        every_id = save_workflow(actor, schedule_graph(start="2030-01-01T00:00:00Z", every=90, unit="minutes"),
                                 name="Every 90 minutes")
    end = utc("2030-01-07T10:00")

    async def follow_the_schedules(sessions: Sessions) -> None:
        """Moves the injected clock from one due tick to the next, from Thursday night to Monday morning."""
        clock = Clock(utc("2030-01-03T23:00"))
        scheduler = Scheduler(sessions, clock=clock, owner="follower")
        while clock.now < end:
            await scheduler.tick()
            async with sessions() as session:
                await session.execute(update(Run).where(Run.status == "queued").values(status="succeeded"))
                await session.commit()
                clock.now = max(clock.now, await session.scalar(select(func.min(Schedule.next_fire_at))))

    with_db(settings, follow_the_schedules)
    cron_due = [datetime.fromisoformat(r.input["scheduled_for"]) for r in runs_of(settings, cron_id)]
    # The first tick (Tuesday) was missed before the clock started: it fires once, then Friday and Monday.
    assert cron_due == [utc("2030-01-01T08:00"), utc("2030-01-04T08:00"), utc("2030-01-07T08:00")]  # 09:00 CET
    every_due = [datetime.fromisoformat(r.input["scheduled_for"]) for r in runs_of(settings, every_id)]
    assert every_due[:4] == [utc("2030-01-01T00:00"), utc("2030-01-04T00:00"), utc("2030-01-04T01:30"),
                             utc("2030-01-04T03:00")]
    assert all(b - a == timedelta(minutes=90) for a, b in pairwise(every_due[1:]))
    assert every_due[-1] == utc("2030-01-07T09:00")


def test_a_tick_is_skipped_while_the_previous_run_is_queued_or_running(settings: Settings) -> None:
    with server(settings) as actor:
        workflow_id = save_workflow(actor, schedule_graph(start="2030-05-01T12:00:00Z", every=5, unit="minutes"))
    start = utc("2030-05-01T12:00")
    first, _ = tick(settings, start)
    assert len(first) == 1
    assert tick(settings, start + timedelta(minutes=5)) == ([], [workflow_id])  # still queued
    set_status(settings, first, "running")
    assert tick(settings, start + timedelta(minutes=10)) == ([], [workflow_id])  # running
    set_status(settings, first, "succeeded")
    fired, skipped = tick(settings, start + timedelta(minutes=15))
    assert len(fired) == 1 and skipped == []
    assert [r.id for r in runs_of(settings, workflow_id)] == [*first, *fired]
    row = schedule_row(settings, workflow_id)
    assert row is not None and row.skipped_ticks == 2 and row.last_fired_at == start + timedelta(minutes=15)

    async def skips(sessions: Sessions) -> list[str]:
        async with sessions() as session:
            query = select(AuditEvent).where(AuditEvent.action == "schedule.tick_skipped").order_by(AuditEvent.id)
            return [e.details["scheduled_for"] for e in (await session.scalars(query)).all()]

    assert with_db(settings, skips) == [(start + timedelta(minutes=m)).isoformat() for m in (5, 10)]


def test_two_schedulers_fire_each_tick_once(settings: Settings) -> None:
    with server(settings) as actor:
        ids = [save_workflow(actor, schedule_graph(start="2030-02-01T00:00:00Z", every=1, unit="minutes"),
                             name=f"Flow {n}") for n in range(4)]
    ticks = 12

    async def race() -> None:
        from flowvault.bootstrap import open_state

        states = [await open_state(settings) for _ in range(2)]
        clock = Clock(utc("2030-02-01T00:00"))
        schedulers = [Scheduler(s.sessions, clock=clock, owner=f"scheduler-{n}") for n, s in enumerate(states)]
        try:
            for minute in range(ticks):
                clock.now = utc("2030-02-01T00:00") + timedelta(minutes=minute)
                reports = await asyncio.gather(*(s.tick() for s in schedulers for _ in range(3)))
                assert all(not r.skipped for r in reports)
                async with states[0].sessions() as session:
                    await session.execute(update(Run).where(Run.status == "queued").values(status="succeeded"))
                    await session.commit()
        finally:
            for state in states:
                await state.engine.dispose()

    asyncio.run(race())
    for workflow_id in ids:
        due = sorted(r.input["scheduled_for"] for r in runs_of(settings, workflow_id))
        assert due == [(utc("2030-02-01T00:00") + timedelta(minutes=m)).isoformat() for m in range(ticks)]


def test_enabling_and_disabling_a_workflow_schedules_and_unschedules_it(settings: Settings) -> None:
    graph = schedule_graph(start="2030-07-01T08:00:00", timezone="Europe/Berlin", every=1, unit="days")
    with server(settings) as actor:
        workflow_id = save_workflow(actor, graph, enabled=False)
    assert schedule_row(settings, workflow_id) is None
    assert tick(settings, utc("2030-07-01T06:00")) == ([], [])
    with server(settings, actor) as actor:
        update_workflow(actor, workflow_id, enabled=True)
    row = schedule_row(settings, workflow_id)
    assert row is not None and row.next_fire_at == utc("2030-07-01T06:00")
    with server(settings, actor) as actor:
        update_workflow(actor, workflow_id, name="Renamed")  # an unchanged schedule keeps its tick
        assert schedule_row(settings, workflow_id) is not None
        update_workflow(actor, workflow_id, enabled=False)
    assert schedule_row(settings, workflow_id) is None
    assert tick(settings, utc("2030-07-01T06:00")) == ([], [])
    with server(settings, actor) as actor:
        update_workflow(actor, workflow_id, enabled=True)
        manual = {"nodes": [{"id": "m", "type": "manual_trigger", "name": "Start", "config": {}}], "edges": []}
        update_workflow(actor, workflow_id, graph=manual)  # no Schedule trigger any more
    assert schedule_row(settings, workflow_id) is None
    assert runs_of(settings, workflow_id) == []


def test_a_schedule_survives_restarts_and_missed_ticks_fire_once(settings: Settings) -> None:
    with server(settings) as actor:
        workflow_id = save_workflow(actor, schedule_graph(start="2030-09-01T00:00:00Z", every=1, unit="hours"))
    fired, _ = tick(settings, utc("2030-09-01T00:00"), owner="before-restart")
    set_status(settings, fired, "succeeded")
    with server(settings, actor):  # a restart of the server in between changes nothing
        pass
    # Down for three ticks: one run, for the first tick missed; the next tick is the next one to come.
    fired, _ = tick(settings, utc("2030-09-01T03:20"), owner="after-restart")
    assert len(fired) == 1
    runs = runs_of(settings, workflow_id)
    assert [r.input["scheduled_for"] for r in runs] == [utc("2030-09-01T00:00").isoformat(),
                                                       utc("2030-09-01T01:00").isoformat()]
    row = schedule_row(settings, workflow_id)
    assert row is not None and row.next_fire_at == utc("2030-09-01T04:00")


def test_a_tick_claimed_by_a_scheduler_that_died_is_fired_once_its_lease_expires(settings: Settings) -> None:
    with server(settings) as actor:
        workflow_id = save_workflow(actor, schedule_graph(start="2030-04-01T10:00:00Z", every=1, unit="days"))
    due = utc("2030-04-01T10:00")

    async def claim_and_die(sessions: Sessions) -> None:
        claimed = await Scheduler(sessions, clock=Clock(due), owner="dies-after-claiming")._claim(due)
        assert [c[0] for c in claimed] == [workflow_id]

    with_db(settings, claim_and_die)
    assert tick(settings, due + timedelta(seconds=30), owner="survivor") == ([], [])  # leased by the dead one
    fired, _ = tick(settings, due + timedelta(seconds=61), owner="survivor")
    assert len(fired) == 1
    assert [r.input["scheduled_for"] for r in runs_of(settings, workflow_id)] == [due.isoformat()]
