"""Helpers for the webhook tests: a workflow with a Webhook trigger, its URL, signed requests."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from argon2 import PasswordHasher

from flowvault.auth import passwords
from flowvault.triggers.signing import sign
from tests.conftest import Actor

RUN_DEADLINE_SECONDS = 20.0
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about webhooks, not password hashing (argon2's real cost is ~100 ms a sign-up)."""
    monkeypatch.setattr(passwords, "_hasher", CHEAP_HASHER)


def webhook_graph(trigger_name: str = "Hook") -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "t", "type": "webhook_trigger", "name": trigger_name, "config": {}},
            {"id": "f", "type": "formatter", "name": "Shout",
             "config": {"operation": "upper", "value": "{{trigger.customer}}"}},
        ],
        "edges": [{"source": "t", "target": "f"}],
    }


def manual_graph() -> dict[str, Any]:
    return {"nodes": [{"id": "t", "type": "manual_trigger", "name": "Start", "config": {}}], "edges": []}


@dataclass
class Hook:
    actor: Actor
    workflow_id: str
    url: str
    token: str

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def post(self, body: Any = None, *, content: bytes | str | None = None, headers: dict[str, str] | None = None,
             path: str | None = None) -> httpx.Response:
        """POSTs ``body`` as minified JSON (or ``content`` as is) to the webhook, without API credentials."""
        if content is None:
            content = json.dumps(body, separators=(",", ":"))
        sent = {"Content-Type": "application/json", **(headers or {})}
        response: httpx.Response = self.actor.client.post(path or self.path, content=content, headers=sent)
        return response

    def runs(self) -> list[dict[str, Any]]:
        response = self.actor.get(f"/api/v1/workspaces/{self.actor.workspace_id}/runs",
                                  params={"workflow_id": self.workflow_id, "limit": 500})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


def create_workflow(actor: Actor, graph: dict[str, Any], *, name: str = "Orders in", enabled: bool = True) -> str:
    response = actor.post(f"/api/v1/workspaces/{actor.workspace_id}/workflows",
                          json={"name": name, "enabled": enabled, "graph": graph})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def webhook_url(actor: Actor, workflow_id: str) -> dict[str, Any]:
    response = actor.get(f"/api/v1/workspaces/{actor.workspace_id}/workflows/{workflow_id}/webhook")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def create_hook(actor: Actor, graph: dict[str, Any] | None = None, *, enabled: bool = True,
                name: str = "Orders in") -> Hook:
    workflow_id = create_workflow(actor, graph or webhook_graph(), name=name, enabled=enabled)
    shown = webhook_url(actor, workflow_id)
    return Hook(actor, workflow_id, shown["url"], shown["token"])


def require_signatures(actor: Actor) -> str:
    """Creates a signing key and turns HMAC on; returns the key."""
    ws = actor.workspace_id
    created = actor.post(f"/api/v1/workspaces/{ws}/settings/webhooks/signing-key")
    assert created.status_code == 201, created.text
    key = str(created.json()["signing_key"])
    turned_on = actor.put(f"/api/v1/workspaces/{ws}/settings/webhooks", json={"hmac_required": True})
    assert turned_on.status_code == 200 and turned_on.json()["hmac_required"] is True, turned_on.text
    return key


def signed(key: str, content: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Flowvault-Timestamp": ts, "X-Flowvault-Signature": f"v1={sign(key, ts, content)}"}


def wait_for_run(actor: Actor, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        run: dict[str, Any] = actor.get(f"/api/v1/workspaces/{actor.workspace_id}/runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish within {RUN_DEADLINE_SECONDS} s")


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"], body
    if code is not None:
        assert body.get("code") == code, body
    return body
