"""No run is lost across a restart (SPEC §8): run records survive it, runs queued while no embedded
dispatcher was running are picked up by the next server, and runs a stopped process left "running"
are queued again (or failed, once they have been interrupted too often).

A server with ``executor="celery"`` starts no embedded dispatcher, so it can queue runs that
nothing executes; the "restart" is a new app on the same data directory and database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, update

from flowvault.app import create_app
from flowvault.config import Settings
from flowvault.db.base import utcnow
from flowvault.db.engine import sync_url
from flowvault.runs.models import Run, RunStep
from tests.conftest import Actor, sign_up
from tests.fakes import FakeEcho
from tests.runs.conftest import RUN_DEADLINE_SECONDS, allow_hosts, create_workflow, run_and_wait, secret

QUIET_SECONDS = 1.5  # longer than the embedded dispatcher's idle poll: nothing may pick a run up meanwhile


@contextmanager
def serving(settings: Settings, executor: str, actor: Actor | None = None) -> Iterator[Actor]:
    """An app on ``settings``' data directory and database; ``actor`` (or a new sign-up) talks to it."""
    with TestClient(create_app(settings.model_copy(update={"executor": executor}))) as client:
        yield replace(actor, client=client) if actor else sign_up(client, "owner@example.com")


def echo_flow(echo: FakeEcho, bearer_id: str) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "t", "type": "manual_trigger", "name": "Start", "config": {}},
            {"id": "h", "type": "http_request", "name": "Fetch",
             "config": {"method": "GET", "url": f"{echo.url}/echo", "auth": "bearer", "credential_id": bearer_id,
                        "query": {"n": "{{trigger.n}}"}}},
        ],
        "edges": [{"source": "t", "target": "h"}],
    }


def queue(actor: Actor, workflow_id: str, run_input: dict[str, Any]) -> str:
    response = actor.post(f"/api/v1/workspaces/{actor.workspace_id}/workflows/{workflow_id}/runs",
                          json={"input": run_input})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    return str(response.json()["id"])


def get_run(actor: Actor, run_id: str) -> dict[str, Any]:
    response = actor.get(f"/api/v1/workspaces/{actor.workspace_id}/runs/{run_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def wait_for(actor: Actor, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        run = get_run(actor, run_id)
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} was not picked up within {RUN_DEADLINE_SECONDS} s")


def set_run_state(settings: Settings, run_id: str, **values: Any) -> None:
    """Changes a run row directly, as a process stopped mid-run would have left it."""
    engine = create_engine(sync_url(settings.resolved_database_url))
    try:
        with engine.begin() as connection:
            changed = connection.execute(update(Run).where(Run.id == run_id).values(**values))
            assert changed.rowcount == 1
    finally:
        engine.dispose()


def add_step(settings: Settings, run_id: str, *, seq: int, node_id: str, node_name: str) -> None:
    engine = create_engine(sync_url(settings.resolved_database_url))
    try:
        with engine.begin() as connection:
            now = utcnow()
            connection.execute(insert(RunStep).values(
                run_id=run_id, seq=seq, node_id=node_id, node_name=node_name, node_type="manual_trigger",
                status="succeeded", input={}, output={}, error=None, credentials=[], logs=[], started_at=now,
                finished_at=now, duration_ms=0))
    finally:
        engine.dispose()


def prepare(actor: Actor, echo: FakeEcho) -> str:
    allow_hosts(actor, echo.host)
    bearer_id = secret(actor, "http_bearer", "Echo API", token="restart-test-token-value")
    return str(create_workflow(actor, echo_flow(echo, bearer_id))["id"])


def test_queued_runs_wait_for_a_dispatcher_and_records_survive_a_restart(
    settings: Settings, fake_echo: FakeEcho
) -> None:
    with serving(settings, "embedded") as owner:
        workflow_id = prepare(owner, fake_echo)
        finished = run_and_wait(owner, workflow_id, {"n": "before"})
        assert finished["status"] == "succeeded", finished

    with serving(settings, "celery", owner) as owner:
        queued_id = queue(owner, workflow_id, {"n": "queued"})
        time.sleep(QUIET_SECONDS)
        assert get_run(owner, queued_id)["status"] == "queued"
        assert get_run(owner, finished["id"]) == finished  # readable while no dispatcher runs
    assert len(fake_echo.requests) == 1  # the queued run has not been executed by anyone

    with serving(settings, "embedded", owner) as owner:
        picked = wait_for(owner, queued_id)
        assert get_run(owner, finished["id"]) == finished
        listed = owner.get(f"/api/v1/workspaces/{owner.workspace_id}/runs").json()["items"]

    assert picked["status"] == "succeeded", picked
    assert picked["input"] == {"n": "queued"} and picked["path"] == ["t", "h"] and picked["attempts"] == 1
    assert [r.query for r in fake_echo.requests] == ["n=before", "n=queued"]
    assert fake_echo.requests[1].headers["authorization"] == "Bearer restart-test-token-value"
    assert {r["id"]: r["status"] for r in listed} == {finished["id"]: "succeeded", queued_id: "succeeded"}


def test_runs_left_running_by_a_stopped_process_are_requeued_at_start(
    settings: Settings, fake_echo: FakeEcho
) -> None:
    with serving(settings, "celery") as owner:
        workflow_id = prepare(owner, fake_echo)
        interrupted = queue(owner, workflow_id, {"n": "interrupted"})
        worn_out = queue(owner, workflow_id, {"n": "worn-out"})
    # As a killed worker leaves them: claimed (running, one attempt made) but never finished.
    set_run_state(settings, interrupted, status="running", attempts=1, started_at=utcnow())
    set_run_state(settings, worn_out, status="running", attempts=3, started_at=utcnow())
    add_step(settings, interrupted, seq=1, node_id="t", node_name="Start")  # what attempt 1 got through

    with serving(settings, "embedded", owner) as owner:
        resumed = wait_for(owner, interrupted)
        given_up = get_run(owner, worn_out)

    assert resumed["status"] == "succeeded", resumed
    assert resumed["attempts"] == 2 and resumed["input"] == {"n": "interrupted"}
    assert [r.query for r in fake_echo.requests] == ["n=interrupted"]
    # The interrupted attempt's step is kept, before the new attempt's, with a note.
    assert [(s["node_id"], s["status"]) for s in resumed["steps"]] == [
        ("t", "succeeded"), ("t", "succeeded"), ("h", "succeeded")]
    assert "interrupted" in resumed["steps"][0]["logs"][-1]
    assert given_up["status"] == "failed"
    assert "interrupted 3 times" in given_up["error"] and "dead-lettered" in given_up["error"]
    assert given_up["finished_at"] is not None and given_up["steps"] == []
