"""The founding promise, end to end: Manual → HTTP Request (bearer) → Condition → Slack against the
local fakes. The right credentials arrive; nothing recorded or returned contains them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from flowvault.runs import host as run_host
from flowvault.runs.host import LAST_USED_PRECISION
from tests.conftest import Actor
from tests.fakes import FakeEcho, FakeSlack
from tests.runs.conftest import allow_hosts, create_workflow, run_and_wait, secret


def flow(echo: FakeEcho, bearer_id: str, slack_id: str, path: str = "/echo") -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "t", "type": "manual_trigger", "name": "Start", "config": {}},
            {"id": "h", "type": "http_request", "name": "Fetch",
             "config": {"method": "GET", "url": f"{echo.url}{path}", "auth": "bearer", "credential_id": bearer_id,
                        "query": {"customer": "{{trigger.customer}}"}}},
            {"id": "c", "type": "condition", "name": "Is ok",
             "config": {"left": "{{fetch.status}}", "operator": "equal", "right": 200}},
            {"id": "s", "type": "slack", "name": "Notify",
             "config": {"channel": "C123", "text": "Fetched for {{trigger.customer}}", "credential_id": slack_id}},
            {"id": "n", "type": "formatter", "name": "Never",
             "config": {"operation": "upper", "value": "not reached"}},
        ],
        "edges": [
            {"source": "t", "target": "h"},
            {"source": "h", "target": "c"},
            {"source": "c", "target": "s", "source_handle": "true"},
            {"source": "c", "target": "n", "source_handle": "false"},
        ],
    }


def test_credentials_reach_the_fakes_and_nothing_leaks(signup: Any, fake_echo: FakeEcho, fake_slack: FakeSlack) -> None:
    owner: Actor = signup("owner@example.com")
    bearer = f"canary-bearer-{uuid4().hex}"
    slack_token = f"xoxb-canary-{uuid4().hex}"
    fake_slack.valid_tokens = {slack_token}
    allow_hosts(owner, fake_echo.host)
    bearer_id = secret(owner, "http_bearer", "Echo API", token=bearer)
    slack_id = secret(owner, "slack_token", "Team Slack", token=slack_token)
    workflow = create_workflow(owner, flow(fake_echo, bearer_id, slack_id))

    run = run_and_wait(owner, workflow["id"], {"customer": "acme"})

    assert run["status"] == "succeeded", run
    assert run["path"] == ["t", "h", "c", "s"]
    echo_request = fake_echo.requests[-1]
    assert echo_request.headers["authorization"] == f"Bearer {bearer}"
    assert echo_request.query == "customer=acme"
    assert fake_slack.messages[-1].token == slack_token and fake_slack.messages[-1].text == "Fetched for acme"
    steps = {s["node_id"]: s for s in run["steps"]}
    assert steps["h"]["credentials"] == [{"id": bearer_id, "name": "Echo API"}]
    assert steps["s"]["credentials"] == [{"id": slack_id, "name": "Team Slack"}]
    # The echo service sent the Authorization header back: the record shows it masked.
    assert steps["h"]["output"]["body"]["headers"]["authorization"] == "Bearer [REDACTED:Echo API]"
    assert steps["c"]["output"] == {"result": True}
    for text in (str(run), str(owner.get(f"/api/v1/workspaces/{owner.workspace_id}/runs").json())):
        assert bearer not in text and slack_token not in text

    detail = owner.get(f"/api/v1/workspaces/{owner.workspace_id}/secrets/{bearer_id}").json()
    assert detail["last_used_at"] is not None
    assert [(u["workflow_name"], u["node_name"]) for u in detail["used_by"]] == [("Test workflow", "Fetch")]
    used = owner.get(f"/api/v1/workspaces/{owner.workspace_id}/audit", params={"action": "secret.used"}).json()
    assert {(e["details"]["node_name"], e["details"]["run_id"]) for e in used["items"]} == {
        ("Fetch", run["id"]), ("Notify", run["id"])}


def test_rotating_the_credential_changes_the_next_run(signup: Any, fake_echo: FakeEcho, fake_slack: FakeSlack) -> None:
    owner: Actor = signup("owner@example.com")
    allow_hosts(owner, fake_echo.host)
    bearer_id = secret(owner, "http_bearer", "Echo API", token="first-token-value")
    slack_id = secret(owner, "slack_token", "Team Slack", token=next(iter(fake_slack.valid_tokens)))
    workflow = create_workflow(owner, flow(fake_echo, bearer_id, slack_id))
    assert run_and_wait(owner, workflow["id"], {"customer": "a"})["status"] == "succeeded"
    assert fake_echo.requests[-1].headers["authorization"] == "Bearer first-token-value"
    rotated = owner.put(f"/api/v1/workspaces/{owner.workspace_id}/secrets/{bearer_id}/value",
                        json={"fields": {"token": "second-token-value"}})
    assert rotated.status_code == 200
    assert run_and_wait(owner, workflow["id"], {"customer": "b"})["status"] == "succeeded"
    assert fake_echo.requests[-1].headers["authorization"] == "Bearer second-token-value"
    assert owner.get(f"/api/v1/workspaces/{owner.workspace_id}/workflows/{workflow['id']}").json()["version"] == 1


def test_deleted_credential_fails_the_run_naming_node_and_credential(
    signup: Any, fake_echo: FakeEcho, fake_slack: FakeSlack
) -> None:
    owner: Actor = signup("owner@example.com")
    allow_hosts(owner, fake_echo.host)
    bearer_id = secret(owner, "http_bearer", "Echo API", token="first-token-value")
    slack_id = secret(owner, "slack_token", "Team Slack", token=next(iter(fake_slack.valid_tokens)))
    workflow = create_workflow(owner, flow(fake_echo, bearer_id, slack_id))
    refused = owner.delete(f"/api/v1/workspaces/{owner.workspace_id}/secrets/{bearer_id}")
    assert refused.status_code == 409 and refused.json()["used_by"][0]["node_name"] == "Fetch"
    assert owner.delete(f"/api/v1/workspaces/{owner.workspace_id}/secrets/{bearer_id}",
                        params={"force": "true"}).status_code == 204
    run = run_and_wait(owner, workflow["id"], {"customer": "a"})
    assert run["status"] == "failed"
    assert "Node 'Fetch' failed" in run["error"] and "'Echo API'" in run["error"] and bearer_id in run["error"]
    assert fake_echo.requests == []


def test_last_used_is_written_when_it_is_a_second_old(
    signup: Any, fake_echo: FakeEcho, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs of one credential within a second write its ``last_used_at`` once (concurrent runs would queue
    for the secret's row otherwise); the next use a second later writes it again."""
    owner: Actor = signup("owner@example.com")
    allow_hosts(owner, fake_echo.host)
    bearer_id = secret(owner, "http_bearer", "Echo API", token="some-bearer-token")
    slack_id = secret(owner, "slack_token", "Team Slack", token=next(iter(fake_slack.valid_tokens)))
    workflow = create_workflow(owner, flow(fake_echo, bearer_id, slack_id))
    start = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    clock = [start]
    monkeypatch.setattr(run_host, "utcnow", lambda: clock[0])

    def last_used_after_a_run() -> datetime:
        assert run_and_wait(owner, workflow["id"], {"customer": "a"})["status"] == "succeeded"
        detail = owner.get(f"/api/v1/workspaces/{owner.workspace_id}/secrets/{bearer_id}").json()
        return datetime.fromisoformat(detail["last_used_at"])

    assert last_used_after_a_run() == start
    clock[0] = start + LAST_USED_PRECISION / 2
    assert last_used_after_a_run() == start
    clock[0] = start + LAST_USED_PRECISION * 2
    assert last_used_after_a_run() == start + LAST_USED_PRECISION * 2
