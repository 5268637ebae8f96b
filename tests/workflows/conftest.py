"""Helpers for the workflow API tests: build graphs, save them, read what the server recorded."""

from __future__ import annotations

import time
from datetime import datetime
from itertools import pairwise
from typing import Any

import httpx

from tests.conftest import Actor


def workflows_url(actor: Actor, rest: str = "", ws: str | None = None) -> str:
    return f"/api/v1/workspaces/{ws or actor.workspace_id}/workflows{rest}"


def secret(actor: Actor, type_key: str, name: str, **fields: str) -> str:
    response = actor.post(f"/api/v1/workspaces/{actor.workspace_id}/secrets",
                          json={"type": type_key, "name": name, "fields": fields})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def secret_detail(actor: Actor, secret_id: str) -> dict[str, Any]:
    response = actor.get(f"/api/v1/workspaces/{actor.workspace_id}/secrets/{secret_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def used_by(actor: Actor, secret_id: str) -> list[tuple[str, str]]:
    """(workflow name, node name) of every node that uses the secret, sorted."""
    return sorted((u["workflow_name"], u["node_name"]) for u in secret_detail(actor, secret_id)["used_by"])


def trigger(node_id: str = "t", name: str = "Start") -> dict[str, Any]:
    return {"id": node_id, "type": "manual_trigger", "name": name, "config": {}}


def http(node_id: str = "h", name: str = "Fetch", **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "http_request", "name": name,
            "config": {"method": "GET", "url": "https://api.example.com/items", **config}}


def slack(node_id: str = "s", name: str = "Notify", **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "slack", "name": name, "config": {"channel": "C123", "text": "hello", **config}}


def formatter(node_id: str, name: str, value: Any = "x") -> dict[str, Any]:
    return {"id": node_id, "type": "formatter", "name": name, "config": {"operation": "upper", "value": value}}


def edge(source: str, target: str, handle: str | None = None) -> dict[str, Any]:
    return {"source": source, "target": target, **({"source_handle": handle} if handle else {})}


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """A graph whose nodes run one after another."""
    return {"nodes": list(nodes), "edges": [edge(a["id"], b["id"]) for a, b in pairwise(nodes)]}


def create(actor: Actor, graph: dict[str, Any], name: str = "Workflow") -> dict[str, Any]:
    response = actor.post(workflows_url(actor), json={"name": name, "graph": graph})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def update(actor: Actor, workflow_id: str, **body: Any) -> dict[str, Any]:
    response = actor.put(workflows_url(actor, f"/{workflow_id}"), json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def problem(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def changes(actor: Actor, workflow_id: str | None = None) -> list[dict[str, Any]]:
    """Change-history entries, oldest first."""
    params = {"workflow_id": workflow_id} if workflow_id else {}
    response = actor.get(f"/api/v1/workspaces/{actor.workspace_id}/logs/changes", params=params)
    assert response.status_code == 200, response.text
    return sorted(response.json()["items"], key=lambda c: (datetime.fromisoformat(c["at"]), c["version"]))


def run_and_wait(actor: Actor, workflow_id: str, run_input: dict[str, Any], deadline_s: float = 20.0) -> dict[str, Any]:
    queued = actor.post(workflows_url(actor, f"/{workflow_id}/runs"), json={"input": run_input})
    assert queued.status_code == 202, queued.text
    url = f"/api/v1/workspaces/{actor.workspace_id}/runs/{queued.json()['id']}"
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        run: dict[str, Any] = actor.get(url).json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {url} did not finish within {deadline_s} s")
