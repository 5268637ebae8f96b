"""Runs need the local fakes: the settings point the service URLs at them and exempt their address
(127.0.0.2) from the private-address block — and nothing else, so 127.0.0.1 stays blocked."""

from __future__ import annotations

import time
from typing import Any

import pytest

from flowvault.config import Settings
from tests.conftest import Actor
from tests.fakes import FakeEcho, FakeSendGrid, FakeSlack

RUN_DEADLINE_SECONDS = 20.0


@pytest.fixture
def settings(settings: Settings, fake_slack: FakeSlack, fake_sendgrid: FakeSendGrid, fake_echo: FakeEcho) -> Settings:
    return settings.model_copy(update={
        "allow_private_hosts": fake_echo.host,
        "slack_api_url": f"{fake_slack.url}/api",
        "sendgrid_api_url": fake_sendgrid.url,
        "embedded_workers": 2,
    })


def allow_hosts(actor: Actor, *hosts: str) -> None:
    response = actor.put(f"/api/v1/workspaces/{actor.workspace_id}/settings/engine",
                         json={"concurrency": 5, "egress_allowlist": list(hosts)})
    assert response.status_code == 200, response.text


def create_workflow(actor: Actor, graph: dict[str, Any], name: str = "Test workflow") -> dict[str, Any]:
    response = actor.post(f"/api/v1/workspaces/{actor.workspace_id}/workflows", json={"name": name, "graph": graph})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def run_and_wait(actor: Actor, workflow_id: str, run_input: dict[str, Any] | None = None) -> dict[str, Any]:
    ws = actor.workspace_id
    queued = actor.post(f"/api/v1/workspaces/{ws}/workflows/{workflow_id}/runs", json={"input": run_input or {}})
    assert queued.status_code == 202, queued.text
    run_id = queued.json()["id"]
    deadline = time.monotonic() + RUN_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        run: dict[str, Any] = actor.get(f"/api/v1/workspaces/{ws}/runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish within {RUN_DEADLINE_SECONDS} s")


def secret(actor: Actor, type_key: str, name: str, **fields: str) -> str:
    response = actor.post(f"/api/v1/workspaces/{actor.workspace_id}/secrets",
                          json={"type": type_key, "name": name, "fields": fields})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
