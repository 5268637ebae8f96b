"""Engine settings and the dead-letter queue (SPEC §5): a workspace never executes more runs at once
than its concurrency limit, excess runs start in queue order; a single run, or every run (cancel all),
can be canceled — running ones stop in the middle of a Delay, also when the cancel comes from another
process (the status in the database); failed runs wait in the dead-letter queue with their reason,
can be requeued with the same input (refused when a node they ran is gone) and cleared by the owner
or an admin, without touching the run history."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.app import create_app
from flowvault.auth import passwords
from flowvault.bootstrap import open_state
from flowvault.config import Settings
from flowvault.db.engine import sync_url
from flowvault.runs.models import Run
from flowvault.runs.service import CLAIM_SLACK, claim_and_look, claim_batch, claim_next, queue_run
from flowvault.workflows.models import Workflow
from tests.conftest import Actor, join, sign_up
from tests.db.test_writes import sent_flights

DEADLINE = 20.0
ROLES = ("owner", "admin", "user", "viewer", "outsider")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """More workers than the concurrency limits used here, so only the limit holds runs back."""
    return settings.model_copy(update={"embedded_workers": 6})


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def ws_url(actor: Actor, rest: str) -> str:
    return f"/api/v1/workspaces/{actor.workspace_id}{rest}"


def set_concurrency(actor: Actor, concurrency: int) -> None:
    response = actor.put(ws_url(actor, "/settings/engine"), json={"concurrency": concurrency, "egress_allowlist": []})
    assert response.status_code == 200, response.text


def delay_workflow(actor: Actor) -> str:
    """Manual → Delay ({{trigger.wait}} seconds) → Formatter."""
    graph = {
        "nodes": [
            {"id": "t", "type": "manual_trigger", "name": "Start", "config": {}},
            {"id": "d", "type": "delay", "name": "Wait", "config": {"seconds": "{{trigger.wait}}"}},
            {"id": "f", "type": "formatter", "name": "After", "config": {"operation": "upper", "value": "done"}},
        ],
        "edges": [{"source": "t", "target": "d"}, {"source": "d", "target": "f"}],
    }
    response = actor.post(ws_url(actor, "/workflows"), json={"name": "Slow", "graph": graph})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def failing_workflow(actor: Actor) -> dict[str, Any]:
    """Manual → Parse (parse_json of {{trigger.payload}}): fails unless the payload is JSON."""
    graph = {
        "nodes": [
            {"id": "t", "type": "manual_trigger", "name": "Start", "config": {}},
            {"id": "p", "type": "formatter", "name": "Parse",
             "config": {"operation": "parse_json", "value": "{{trigger.payload}}"}},
        ],
        "edges": [{"source": "t", "target": "p"}],
    }
    response = actor.post(ws_url(actor, "/workflows"), json={"name": "Importer", "graph": graph})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def start(actor: Actor, workflow_id: str, run_input: dict[str, Any]) -> str:
    response = actor.post(ws_url(actor, f"/workflows/{workflow_id}/runs"), json={"input": run_input})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def get_run(actor: Actor, run_id: str) -> dict[str, Any]:
    response = actor.get(ws_url(actor, f"/runs/{run_id}"))
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    return run


def wait_until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


def finished(actor: Actor, run_id: str) -> dict[str, Any]:
    wait_until(lambda: get_run(actor, run_id)["status"] not in ("queued", "running"), f"run {run_id} finished")
    return get_run(actor, run_id)


def stopped_run(actor: Actor, run_id: str, deadline: float = DEADLINE) -> dict[str, Any]:
    """The canceled run once its interrupted Delay step is recorded (the status changes first)."""
    wait_until(lambda: len(get_run(actor, run_id)["steps"]) == 2, f"run {run_id} recorded its stopped step", deadline)
    return get_run(actor, run_id)


def delay_started(actor: Actor, run_id: str) -> bool:
    """Running, with the trigger's step recorded: the Delay is what it is doing now."""
    run = get_run(actor, run_id)
    return run["status"] == "running" and len(run["steps"]) == 1


def max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    current = peak = 0
    for _, change in events:
        current += change
        peak = max(peak, current)
    return peak


def team(signup: Any) -> dict[str, Actor]:
    owner: Actor = signup("owner@example.com")
    actors = {"owner": owner}
    for role in ROLES[1:]:
        actors[role] = signup(f"{role}@example.com")
        if role != "outsider":
            join(owner, owner.workspace_id, actors[role], role)
    return actors


# -- concurrency ---------------------------------------------------------------------------------------------


def test_never_more_runs_at_once_than_the_limit_and_in_queue_order(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    set_concurrency(owner, 2)
    workflow_id = delay_workflow(owner)
    run_ids = [start(owner, workflow_id, {"wait": 0.4}) for _ in range(6)]
    runs = [finished(owner, run_id) for run_id in run_ids]
    assert all(r["status"] == "succeeded" for r in runs), runs
    delays = []
    for run in runs:
        step = next(s for s in run["steps"] if s["node_id"] == "d")
        delays.append((datetime.fromisoformat(step["started_at"]), datetime.fromisoformat(step["finished_at"])))
    assert max_overlap(delays) == 2, "two at a time: never more, and the limit was used"
    started = [datetime.fromisoformat(r["started_at"]) for r in runs]
    assert started == sorted(started), "excess runs started in the order they were queued"

    # Another workspace has its own limit: it is not held up by this one's queue.
    other: Actor = signup("other@example.com")
    set_concurrency(other, 1)
    other_workflow = delay_workflow(other)
    busy = [start(owner, workflow_id, {"wait": 2}) for _ in range(3)]
    quick = finished(other, start(other, other_workflow, {"wait": 0}))
    assert quick["status"] == "succeeded"
    assert get_run(owner, busy[2])["status"] == "queued", "the owner's third run still waits for a slot"


# -- cancel --------------------------------------------------------------------------------------------------


def test_cancel_all_stops_running_runs_and_clears_queued_ones(signup: Any) -> None:
    actors = team(signup)
    owner = actors["owner"]
    set_concurrency(owner, 2)
    workflow_id = delay_workflow(owner)
    run_ids = [start(owner, workflow_id, {"wait": 30}) for _ in range(4)]
    wait_until(lambda: sum(delay_started(owner, r) for r in run_ids) == 2, "two runs are in their Delay")

    for role in ("user", "viewer"):
        refused = actors[role].post(ws_url(owner, "/runs/cancel-all"))
        assert refused.status_code == 403 and "owner or an admin" in refused.json()["detail"], refused.text
    assert actors["outsider"].post(ws_url(owner, "/runs/cancel-all")).status_code == 404
    asked = time.monotonic()
    response = actors["admin"].post(ws_url(owner, "/runs/cancel-all"))

    assert response.status_code == 200, response.text
    assert response.json() == {"canceled_queued": 2, "canceled_running": 2}
    runs = [finished(owner, r) for r in run_ids]
    assert time.monotonic() - asked < 5, "the running Delays were interrupted, not waited out"
    assert [r["status"] for r in runs] == ["canceled"] * 4
    running, queued = [r for r in runs if r["steps"]], [r for r in runs if not r["steps"]]
    assert len(running) == 2 and len(queued) == 2
    for stopped in running:
        run = stopped_run(owner, stopped["id"])
        assert [(s["node_id"], s["status"]) for s in run["steps"]] == [("t", "succeeded"), ("d", "canceled")]
        assert run["steps"][1]["error"] == "The run was canceled while this node was running."
        assert run["error"] == "Canceled by admin@example.com (cancel all)." and run["path"] == ["t", "d"]
    for run in queued:
        assert run["started_at"] is None and run["error"] == "Canceled by admin@example.com (cancel all)."
    time.sleep(0.3)
    assert all(get_run(owner, r)["status"] == "canceled" for r in run_ids), "a canceled run never starts again"
    after = finished(owner, start(owner, workflow_id, {"wait": 0}))
    assert after["status"] == "succeeded", "the slots were freed"
    audit = owner.get(ws_url(owner, "/audit"), params={"action": "runs.canceled_all"}).json()["items"]
    assert [(e["actor_email"], e["details"]) for e in audit] == [("admin@example.com", {"queued": 2, "running": 2})]


def test_cancel_one_run_running_or_queued(signup: Any) -> None:
    actors = team(signup)
    owner, user = actors["owner"], actors["user"]
    set_concurrency(owner, 1)
    workflow_id = delay_workflow(owner)
    running_id = start(owner, workflow_id, {"wait": 30})
    queued_id = start(owner, workflow_id, {"wait": 30})
    wait_until(lambda: delay_started(owner, running_id), "the first run is in its Delay")
    assert get_run(owner, queued_id)["status"] == "queued"

    assert actors["viewer"].post(ws_url(owner, f"/runs/{queued_id}/cancel")).status_code == 403
    assert actors["outsider"].post(ws_url(owner, f"/runs/{queued_id}/cancel")).status_code == 404
    canceled = user.post(ws_url(owner, f"/runs/{queued_id}/cancel"))
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled" and canceled.json()["error"] == "Canceled by user@example.com."
    assert get_run(owner, running_id)["status"] == "running", "canceling one run leaves the others alone"

    asked = time.monotonic()
    assert user.post(ws_url(owner, f"/runs/{running_id}/cancel")).status_code == 200
    stopped = stopped_run(owner, running_id)
    assert time.monotonic() - asked < 5
    assert stopped["status"] == "canceled"
    assert [s["status"] for s in stopped["steps"]] == ["succeeded", "canceled"]
    assert get_run(owner, queued_id)["started_at"] is None

    again = user.post(ws_url(owner, f"/runs/{running_id}/cancel"))
    assert again.status_code == 409 and "already finished (canceled)" in again.json()["detail"]
    done = finished(owner, start(owner, workflow_id, {"wait": 0}))
    refused = user.post(ws_url(owner, f"/runs/{done['id']}/cancel"))
    assert refused.status_code == 409 and "(succeeded)" in refused.json()["detail"]
    assert get_run(owner, done["id"])["status"] == "succeeded"
    assert user.post(ws_url(owner, "/runs/00000000-0000-4000-8000-000000000000/cancel")).status_code == 404


def test_a_cancel_written_by_another_process_stops_the_run(signup: Any, settings: Settings) -> None:
    """The database status is the truth: a cancel written there directly (as another server process
    would) stops the Delay within the watch's poll interval."""
    owner: Actor = signup("owner@example.com")
    workflow_id = delay_workflow(owner)
    run_id = start(owner, workflow_id, {"wait": 30})
    wait_until(lambda: delay_started(owner, run_id), "the run is in its Delay")
    engine = create_engine(sync_url(settings.resolved_database_url))
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE runs SET status = 'canceled', error = 'Canceled elsewhere.' WHERE id = :id"), {"id": run_id}
        )
    engine.dispose()
    run = stopped_run(owner, run_id, deadline=5)
    assert run["status"] == "canceled" and run["error"] == "Canceled elsewhere."
    assert run["steps"][1]["status"] == "canceled" and run["path"] == ["t", "d"]


# -- dead-letter queue ---------------------------------------------------------------------------------------


def dead_letters(actor: Actor, ws_owner: Actor) -> list[dict[str, Any]]:
    response = actor.get(ws_url(ws_owner, "/logs/dead-letter"))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_failed_runs_wait_in_the_dead_letter_queue_and_can_be_requeued(signup: Any) -> None:
    actors = team(signup)
    owner, user = actors["owner"], actors["user"]
    workflow = failing_workflow(owner)
    first = finished(owner, start(owner, workflow["id"], {"payload": "not json", "customer": "acme"}))
    assert first["status"] == "failed"
    ok = finished(owner, start(owner, workflow["id"], {"payload": '{"fine": true}'}))
    assert ok["status"] == "succeeded"

    for role in ("owner", "admin", "user", "viewer"):
        entries = dead_letters(actors[role], owner)
        assert [e["run_id"] for e in entries] == [first["id"]], role
    entry = dead_letters(owner, owner)[0]
    assert entry["workflow_id"] == workflow["id"] and entry["workflow_name"] == "Importer"
    assert entry["trigger"] == "manual" and entry["attempts"] == 1
    assert entry["reason"].startswith("Node 'Parse' failed: The input is not valid JSON")
    assert entry["failed_at"] == first["finished_at"]
    assert actors["outsider"].get(ws_url(owner, "/logs/dead-letter")).status_code == 404

    assert actors["viewer"].post(ws_url(owner, f"/logs/dead-letter/{first['id']}/requeue")).status_code == 403
    requeued = user.post(ws_url(owner, f"/logs/dead-letter/{first['id']}/requeue"))
    assert requeued.status_code == 202, requeued.text
    second = finished(owner, requeued.json()["id"])
    assert second["input"] == first["input"] and second["trigger"] == "manual"
    assert second["requeued_from_id"] == first["id"] and get_run(owner, first["id"])["requeued_as_id"] == second["id"]
    assert second["status"] == "failed", "same input, same failure"
    assert [e["run_id"] for e in dead_letters(owner, owner)] == [second["id"]], "the original left the queue"

    twice = user.post(ws_url(owner, f"/logs/dead-letter/{first['id']}/requeue"))
    assert twice.status_code == 409 and twice.json()["code"] == "already_requeued"
    not_failed = user.post(ws_url(owner, f"/logs/dead-letter/{ok['id']}/requeue"))
    assert not_failed.status_code == 409 and "this one is succeeded" in not_failed.json()["detail"]

    # Fixed in the workflow (same nodes), the requeued run succeeds.
    graph = workflow["graph"]
    graph["nodes"][1]["config"]["value"] = '{"fixed": true}'
    assert owner.put(ws_url(owner, f"/workflows/{workflow['id']}"), json={"graph": graph}).status_code == 200
    third = finished(owner, user.post(ws_url(owner, f"/logs/dead-letter/{second['id']}/requeue")).json()["id"])
    assert third["status"] == "succeeded" and third["input"] == first["input"]
    assert dead_letters(owner, owner) == []


def test_requeue_is_refused_when_a_node_the_run_went_through_is_gone(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    workflow = failing_workflow(owner)
    failed = finished(owner, start(owner, workflow["id"], {"payload": "not json"}))
    graph = workflow["graph"]
    graph["nodes"][1] = {"id": "p2", "type": "formatter", "name": "Parse again",
                         "config": {"operation": "upper", "value": "x"}}
    graph["edges"] = [{"source": "t", "target": "p2"}]
    assert owner.put(ws_url(owner, f"/workflows/{workflow['id']}"), json={"graph": graph}).status_code == 200

    refused = owner.post(ws_url(owner, f"/logs/dead-letter/{failed['id']}/requeue"))

    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["code"] == "node_gone" and "'Parse' (p)" in problem["detail"]
    assert "Start a new run" in problem["detail"]
    runs = owner.get(ws_url(owner, "/runs"), params={"workflow_id": workflow["id"]}).json()["items"]
    assert [r["id"] for r in runs] == [failed["id"]], "no run was created"
    assert [e["run_id"] for e in dead_letters(owner, owner)] == [failed["id"]], "it stays in the queue"

    # A deleted workflow takes its runs, and so its queue entries, with it.
    assert owner.delete(ws_url(owner, f"/workflows/{workflow['id']}")).status_code == 204
    assert dead_letters(owner, owner) == []
    assert owner.post(ws_url(owner, f"/logs/dead-letter/{failed['id']}/requeue")).status_code == 404


def test_clearing_the_queue_is_for_owner_and_admins_and_keeps_the_history(signup: Any) -> None:
    actors = team(signup)
    owner = actors["owner"]
    workflow = failing_workflow(owner)
    failed = [finished(owner, start(owner, workflow["id"], {"payload": f"bad {n}"})) for n in range(3)]
    ids = {r["id"] for r in failed}
    assert {e["run_id"] for e in dead_letters(owner, owner)} == ids

    for role, status in (("user", 403), ("viewer", 403), ("outsider", 404)):
        assert actors[role].delete(ws_url(owner, "/logs/dead-letter")).status_code == status, role
        assert actors[role].delete(ws_url(owner, f"/logs/dead-letter/{failed[0]['id']}")).status_code == status
    assert {e["run_id"] for e in dead_letters(owner, owner)} == ids, "a refused clear changed nothing"

    one = actors["admin"].delete(ws_url(owner, f"/logs/dead-letter/{failed[0]['id']}"))
    assert one.status_code == 200 and one.json() == {"cleared": 1}
    assert {e["run_id"] for e in dead_letters(owner, owner)} == ids - {failed[0]["id"]}
    everything = owner.delete(ws_url(owner, "/logs/dead-letter"))
    assert everything.status_code == 200 and everything.json() == {"cleared": 2}
    assert dead_letters(owner, owner) == []
    assert owner.delete(ws_url(owner, "/logs/dead-letter")).json() == {"cleared": 0}

    history = owner.get(ws_url(owner, "/runs"), params={"status": "failed"}).json()["items"]
    assert {r["id"] for r in history} == ids, "the runs stay in the history"
    assert get_run(owner, failed[0]["id"])["steps"], "with their steps"
    audit = owner.get(ws_url(owner, "/audit"), params={"action": "dead_letter.cleared"}).json()["items"]
    assert sorted(e["details"]["cleared"] for e in audit) == [0, 1, 2]
    # A cleared run can still be requeued from its record (it is failed and was never requeued).
    assert owner.post(ws_url(owner, f"/logs/dead-letter/{failed[1]['id']}/requeue")).status_code == 202


def test_concurrent_claimers_never_exceed_the_limit(settings: Settings) -> None:
    """Many workers (or processes) claiming at the same moment: the limit is checked atomically."""
    with TestClient(create_app(settings)) as client:
        owner = sign_up(client, "owner@example.com")
        set_concurrency(owner, 2)
        workflow_id = delay_workflow(owner)
    # The app (and its dispatcher) has stopped: only the claimers below touch the queue.

    async def scenario() -> list[Run | None]:
        state = await open_state(settings)
        try:
            async with state.sessions() as session:
                workflow = await session.get(Workflow, workflow_id)
                assert workflow is not None
                for _ in range(8):
                    await queue_run(session, workflow=workflow, trigger="manual", run_input={}, actor_id=None)

            async def claim() -> Run | None:
                async with state.writes() as writes:
                    return await claim_next(writes)

            at_once = await asyncio.gather(*(claim() for _ in range(8)))
            # A claimer may skip rows another one has locked and find nothing: claiming on until nothing
            # is claimable shows the limit is reached, not only never exceeded.
            after = [await claim() for _ in range(3)]
            return at_once + after
        finally:
            await state.engine.dispose()

    claimed = asyncio.run(scenario())
    assert sum(run is not None for run in claimed) == 2


async def queue_runs(session: AsyncSession, workflow_id: str, count: int) -> list[Run]:
    workflow = await session.get(Workflow, workflow_id)
    assert workflow is not None
    return [
        await queue_run(session, workflow=workflow, trigger="manual", run_input={}, actor_id=None) for _ in range(count)
    ]


def busy_and_other(settings: Settings, *, busy_limit: int) -> tuple[str, str]:
    """The ids of two workspaces' delay workflows: one workspace runs at most ``busy_limit`` at once."""
    with TestClient(create_app(settings)) as client:
        busy = sign_up(client, "busy@example.com")
        set_concurrency(busy, busy_limit)
        busy_workflow = delay_workflow(busy)
        return busy_workflow, delay_workflow(sign_up(client, "other@example.com"))


def test_a_backlog_in_a_full_workspace_holds_up_no_other_workspace(settings: Settings) -> None:
    """Many more queued runs of a workspace at its limit than a claim's window, all older than another
    workspace's run: that run is still claimed, and none of the full workspace's."""
    busy_workflow, other_workflow = busy_and_other(settings, busy_limit=1)

    async def scenario() -> tuple[list[str], str]:
        state = await open_state(settings)
        try:
            async with state.sessions() as session:
                await queue_runs(session, busy_workflow, 60)
            async with state.writes() as writes:
                first = await claim_batch(writes, 1)  # the busy workspace is now at its limit
            assert [claim.run.workflow_id for claim in first] == [busy_workflow]
            async with state.sessions() as session:
                [newest] = await queue_runs(session, other_workflow, 1)
            async with state.writes() as writes:
                claimed = await claim_batch(writes, 3)
            return [claim.run.id for claim in claimed], newest.id
        finally:
            await state.engine.dispose()

    claimed, newest = asyncio.run(scenario())
    assert claimed == [newest]


def test_a_workspace_that_fills_up_during_a_claim_leaves_the_rest_to_other_workspaces(settings: Settings) -> None:
    """The oldest queued runs all belong to a workspace that reaches its limit part-way through one claim:
    the claim goes on past the window it first read and fills its other slots with the next workspace's."""
    busy_workflow, other_workflow = busy_and_other(settings, busy_limit=2)

    async def scenario() -> list[str]:
        state = await open_state(settings)
        try:
            async with state.sessions() as session:
                await queue_runs(session, busy_workflow, 4 + CLAIM_SLACK + 4)  # more than one window of 4 slots
                await queue_runs(session, other_workflow, 3)
            async with state.writes() as writes:
                claimed = await claim_batch(writes, 4)
            return [claim.run.workflow_id for claim in claimed]
        finally:
            await state.engine.dispose()

    assert asyncio.run(scenario()) == [busy_workflow, busy_workflow, other_workflow, other_workflow]


def test_a_claim_tells_whether_it_left_queued_runs_behind(settings: Settings) -> None:
    """What a Celery worker asks for help on (``dispatch/celery_app.py``): a claim that leaves claimable runs
    says so; one that takes the last, or finds none, does not."""
    _, workflow_id = busy_and_other(settings, busy_limit=1)

    async def scenario() -> list[tuple[int, bool]]:
        state = await open_state(settings)
        try:
            async with state.sessions() as session:
                await queue_runs(session, workflow_id, 3)
            seen: list[tuple[int, bool]] = []
            for slots in (1, 2, 1):
                async with state.writes() as writes:
                    claims, left = await claim_and_look(writes, slots)
                seen.append((len(claims), left))
            return seen
        finally:
            await state.engine.dispose()

    assert asyncio.run(scenario()) == [(1, True), (2, False), (0, False)]


def test_a_claim_pass_sends_its_claims_with_the_commit_and_the_limit_holds_inside_one_flight(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workspace with a limit of 2, one run running and the oldest 4 queued, another with 2 newer ones,
    4 free slots: 1 and 2 are claimed (a pass picks 2 of the full one's: the second claim, in the same
    flight as the first, sees it and changes nothing). On PostgreSQL a pass is two round trips: the
    window read, then the workspace locks, the claims and the COMMIT; the next pass finds nothing."""
    flights = sent_flights(monkeypatch)
    busy_workflow, other_workflow = busy_and_other(settings, busy_limit=2)

    async def scenario() -> list[str]:
        state = await open_state(settings)
        try:
            async with state.sessions() as session:
                await queue_runs(session, busy_workflow, 5)
                await queue_runs(session, other_workflow, 2)
            async with state.writes() as writes:
                assert len(await claim_batch(writes, 1)) == 1
            flights.clear()
            async with state.writes() as writes:
                claimed = await claim_batch(writes, 4)
            return [claim.run.workflow_id for claim in claimed]
        finally:
            await state.engine.dispose()

    assert asyncio.run(scenario()) == [busy_workflow, other_workflow, other_workflow]
    if not settings.is_sqlite:
        assert flights == [
            ["BEGIN", "SELECT"],
            ["SELECT", "SELECT", "UPDATE", "UPDATE", "UPDATE", "UPDATE", "COMMIT"],
            ["BEGIN", "SELECT"],
            ["COMMIT"],
        ]
