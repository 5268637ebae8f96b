"""The embedded dispatcher puts answering webhooks first: while a webhook request is being answered, runs
start only in the reserved slots; the other slots fill as soon as no request is in flight."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flowvault.app import create_app
from flowvault.config import Settings
from flowvault.dispatch.embedded import RESERVED_SLOTS
from tests.conftest import Actor, sign_up
from tests.runs.test_cancel_and_dlq import delay_workflow, set_concurrency, start

WORKERS = 4


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"embedded_workers": WORKERS}))) as client:
        yield client


def running(actor: Actor) -> int:
    response = actor.get(f"/api/v1/workspaces/{actor.workspace_id}/runs", params={"status": "running", "limit": 50})
    assert response.status_code == 200, response.text
    return len(response.json()["items"])


def settle(actor: Actor, expected: int, seconds: float = 10.0) -> int:
    """The running count once it reached ``expected`` (or whatever it is when the time is up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and running(actor) != expected:
        time.sleep(0.05)
    time.sleep(0.3)  # and it stays there
    return running(actor)


def test_runs_start_only_in_the_reserved_slots_while_a_webhook_is_answered(client: TestClient) -> None:
    assert RESERVED_SLOTS < WORKERS
    owner = sign_up(client, "owner@example.com")
    set_concurrency(owner, WORKERS)
    workflow_id = delay_workflow(owner)
    state: Any = client.app.state.flowvault  # type: ignore[attr-defined]
    state.hooks_in_flight += 1  # as if a webhook request were being answered the whole time
    try:
        run_ids = [start(owner, workflow_id, {"wait": 30}) for _ in range(WORKERS)]
        assert settle(owner, RESERVED_SLOTS) == RESERVED_SLOTS
    finally:
        state.hooks_in_flight -= 1
    state.run_queued()  # what the end of a webhook request does
    assert settle(owner, WORKERS) == WORKERS
    cancel = owner.post(f"/api/v1/workspaces/{owner.workspace_id}/runs/cancel-all")
    assert cancel.status_code == 200, cancel.text
    assert len(run_ids) == WORKERS
