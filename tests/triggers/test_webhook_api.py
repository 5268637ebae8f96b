"""The webhook URL (SPEC §6, §11): a JSON POST queues a run with the body as the trigger's variables;
the token is a credential (404 without it, never revealing whether the workflow exists; regenerating
it kills the old URL at once; stored hashed and sealed, never in plaintext); only enabled workflows
with a Webhook trigger accept; bodies are JSON objects up to 1 MB. No refused request creates a run."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from flowvault.config import Settings
from flowvault.db.engine import sync_url
from tests.conftest import Actor, join
from tests.triggers.conftest import (
    Hook,
    assert_problem,
    create_hook,
    manual_graph,
    wait_for_run,
    webhook_graph,
    webhook_url,
)

MB = 1_000_000


def test_a_json_post_queues_a_run_whose_trigger_variables_are_the_body(signup: Any) -> None:
    hook = create_hook(signup("owner@example.com"))
    body = {"customer": "acme", "amount": 42, "items": [{"sku": "A-1"}], "note": "Grüße"}

    response = hook.post(body)

    assert response.status_code == 202, response.text
    assert set(response.json()) == {"run_id"}
    run = wait_for_run(hook.actor, response.json()["run_id"])
    assert run["status"] == "succeeded", run
    assert run["trigger"] == "webhook" and run["workflow_id"] == hook.workflow_id
    assert run["input"] == body
    steps = {s["node_id"]: s for s in run["steps"]}
    assert steps["t"]["output"] == body
    assert steps["f"]["output"] == {"value": "ACME"}


def test_the_run_is_queued_not_run_inline(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    graph = webhook_graph()
    graph["nodes"].append({"id": "d", "type": "delay", "name": "Wait", "config": {"seconds": 2}})
    graph["edges"].append({"source": "f", "target": "d"})
    hook = create_hook(owner, graph)
    started = time.monotonic()
    response = hook.post({"customer": "acme"})
    assert response.status_code == 202
    assert time.monotonic() - started < 1.5, "the answer waited for the run"
    run = owner.get(f"/api/v1/workspaces/{owner.workspace_id}/runs/{response.json()['run_id']}").json()
    assert run["status"] in ("queued", "running")
    assert wait_for_run(owner, run["id"])["status"] == "succeeded"


def test_the_url_is_stable_and_regenerating_kills_the_old_one_at_once(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    hook = create_hook(owner)
    again = webhook_url(owner, hook.workflow_id)
    assert again["token"] == hook.token and again["url"] == hook.url
    assert hook.url == f"http://testserver/hooks/{hook.workflow_id}/{hook.token}"
    assert hook.token.startswith("fvh_") and len(hook.token) >= 40
    assert again["accepting"] is True and again["reason"] is None and again["hmac_required"] is False
    assert hook.post({"customer": "before"}).status_code == 202

    regenerated = owner.post(f"/api/v1/workspaces/{owner.workspace_id}/workflows/{hook.workflow_id}/webhook/regenerate")

    assert regenerated.status_code == 200, regenerated.text
    new = regenerated.json()
    assert new["token"] != hook.token and new["url"] == f"http://testserver/hooks/{hook.workflow_id}/{new['token']}"
    assert_problem(hook.post({"customer": "old url"}), 404, "webhook_not_found")
    assert webhook_url(owner, hook.workflow_id)["token"] == new["token"]
    fresh = Hook(owner, hook.workflow_id, new["url"], new["token"])
    assert fresh.post({"customer": "new url"}).status_code == 202
    assert sorted(r["trigger"] for r in hook.runs()) == ["webhook", "webhook"]
    audit = owner.get(f"/api/v1/workspaces/{owner.workspace_id}/audit",
                      params={"action": "webhook.token_regenerated"}).json()["items"]
    assert [e["target_id"] for e in audit] == [hook.workflow_id]
    assert new["token"] not in json.dumps(audit) and hook.token not in json.dumps(audit)


def test_unknown_workflow_and_wrong_token_get_the_same_404(signup: Any) -> None:
    hook = create_hook(signup("owner@example.com"))
    wrong_token = hook.post({"customer": "x"}, path=f"/hooks/{hook.workflow_id}/fvh_{'A' * 43}")
    unknown_workflow = hook.post({"customer": "x"}, path=f"/hooks/00000000-0000-4000-8000-000000000000/{hook.token}")
    truncated = hook.post({"customer": "x"}, path=hook.path[:-1])
    first = assert_problem(wrong_token, 404, "webhook_not_found")
    assert unknown_workflow.json() == first and truncated.json() == first
    assert hook.runs() == []


def test_only_enabled_workflows_with_a_webhook_trigger_accept(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    disabled = create_hook(owner, enabled=False, name="Off")
    manual = create_hook(owner, manual_graph(), name="Manual only")

    off = assert_problem(disabled.post({"customer": "x"}), 409, "workflow_disabled")
    assert "Enable the workflow" in off["detail"]
    no_trigger = assert_problem(manual.post({"customer": "x"}), 409, "no_webhook_trigger")
    assert "Webhook trigger" in no_trigger["detail"]
    shown = webhook_url(owner, disabled.workflow_id)
    assert shown["accepting"] is False and shown["reason"] == off["detail"]
    assert disabled.runs() == [] and manual.runs() == []

    enabled = owner.put(f"/api/v1/workspaces/{owner.workspace_id}/workflows/{disabled.workflow_id}",
                        json={"enabled": True})
    assert enabled.status_code == 200, enabled.text
    assert disabled.post({"customer": "x"}).status_code == 202
    assert webhook_url(owner, disabled.workflow_id)["accepting"] is True
    # Manual runs of a webhook workflow still work (the given input is the trigger's variables).
    manual_run = owner.post(f"/api/v1/workspaces/{owner.workspace_id}/workflows/{disabled.workflow_id}/runs",
                            json={"input": {"customer": "by hand"}})
    assert wait_for_run(owner, manual_run.json()["id"])["steps"][-1]["output"] == {"value": "BY HAND"}


@pytest.mark.parametrize(
    ("content_type", "content", "status", "code", "says"),
    [
        ("text/plain", b'{"customer":"x"}', 415, "unsupported_media_type", "Content-Type: application/json"),
        (None, b'{"customer":"x"}', 415, "unsupported_media_type", "no Content-Type"),
        ("application/x-www-form-urlencoded", b"customer=x", 415, "unsupported_media_type", "application/json"),
        ("application/json", b'{"customer": "x"', 400, "invalid_json", "not valid JSON"),
        ("application/json", b"", 400, "invalid_json", "empty"),
        ("application/json", b'{"n": NaN}', 400, "invalid_json", "NaN"),
        ("application/json", b'\xff\xfe{"a"', 400, "invalid_json", "not valid JSON"),
        ("application/json", b'[{"customer":"x"}]', 422, "not_a_json_object", "got an array"),
        ("application/json", b'"hello"', 422, "not_a_json_object", "got a string"),
        ("application/json", b"x" * (MB + 1), 413, "payload_too_large", "1,000,000 bytes"),
    ],
)
def test_bodies_that_are_not_one_json_object_are_refused_clearly(
    signup: Any, content_type: str | None, content: bytes, status: int, code: str, says: str
) -> None:
    hook = create_hook(signup("owner@example.com"))
    headers = {"Content-Type": content_type} if content_type else {}
    if content_type is None:
        response = hook.actor.client.post(hook.path, content=content)
    else:
        response = hook.post(content=content, headers=headers)
    problem = assert_problem(response, status, code)
    assert says in problem["detail"], problem
    assert hook.runs() == []


def test_json_media_types_with_parameters_or_suffixes_are_accepted_up_to_the_limit(signup: Any) -> None:
    hook = create_hook(signup("owner@example.com"))
    for content_type in ("application/json; charset=utf-8", "application/vnd.example+json", "Application/JSON"):
        assert hook.post({"customer": "x"}, headers={"Content-Type": content_type}).status_code == 202
    padding = "p" * (MB - len(json.dumps({"customer": "big", "pad": ""}, separators=(",", ":"))))
    exactly = hook.post({"customer": "big", "pad": padding})
    assert exactly.status_code == 202, exactly.text
    assert len(hook.runs()) == 4


def test_webhook_settings_defaults_validation_and_the_signing_key(signup: Any, settings: Settings) -> None:
    owner: Actor = signup("owner@example.com")
    url = f"/api/v1/workspaces/{owner.workspace_id}/settings/webhooks"
    assert owner.get(url).json() == {"hmac_required": False, "replay_window_s": 300, "rate_per_s": 5.0, "burst": 20,
                                     "signing_key_set": False, "signing_key_created_at": None}
    refused = assert_problem(owner.put(url, json={"hmac_required": True}), 409, "signing_key_missing")
    assert "signing key first" in refused["detail"]
    for bad in ({"replay_window_s": 5}, {"rate_per_s": 0}, {"burst": 0}, {"replay_window_s": 90_000}):
        assert_problem(owner.put(url, json=bad), 422)
    assert owner.get(url).json()["hmac_required"] is False

    first = owner.post(f"{url}/signing-key")
    second = owner.post(f"{url}/signing-key")
    assert first.status_code == second.status_code == 201
    keys = [first.json()["signing_key"], second.json()["signing_key"]]
    assert keys[0] != keys[1]
    for key in keys:
        assert len(key) == 43 and all(c.isalnum() or c in "-_" for c in key), "32 bytes, base64url, no padding"
    changed = owner.put(url, json={"hmac_required": True, "replay_window_s": 60, "rate_per_s": 2.5, "burst": 7})
    assert changed.status_code == 200, changed.text
    shown = owner.get(url).json()
    assert shown["hmac_required"] is True and shown["replay_window_s"] == 60
    assert shown["rate_per_s"] == 2.5 and shown["burst"] == 7 and shown["signing_key_set"] is True
    assert owner.put(url, json={"burst": 9}).json()["replay_window_s"] == 60, "fields left out keep their value"

    # The key is shown once and stored only sealed: in no other response, nowhere in the database.
    hook = create_hook(owner)
    seen = [owner.get(url).text, json.dumps(webhook_url(owner, hook.workflow_id)),
            owner.get(f"/api/v1/workspaces/{owner.workspace_id}/audit").text]
    stored = database_text(settings)
    for key in keys:
        assert all(key not in text for text in seen)
        assert key not in stored
    assert hook.token not in stored


def database_text(settings: Settings) -> str:
    """Every row of the tables webhooks touch, as text (binary columns as their raw bytes)."""

    def shown(value: Any) -> str:
        if isinstance(value, memoryview):
            value = bytes(value)
        return value.decode("latin-1") if isinstance(value, bytes) else str(value)

    engine = create_engine(sync_url(settings.resolved_database_url))
    parts: list[str] = []
    with engine.connect() as connection:
        for table in ("webhooks", "webhook_settings", "webhook_deliveries", "audit_events", "runs"):
            for row in connection.execute(text(f"SELECT * FROM {table}")):  # noqa: S608 - fixed names
                parts.extend(shown(value) for value in row)
    engine.dispose()
    return "\n".join(parts)


ROLES = ("owner", "admin", "user", "viewer", "outsider")
# route → the status each role gets (owner, admin, user, viewer, outsider)
MATRIX: list[tuple[str, str, tuple[int, ...]]] = [
    ("GET", "/workflows/{wf}/webhook", (200, 200, 200, 403, 404)),
    ("POST", "/workflows/{wf}/webhook/regenerate", (200, 200, 200, 403, 404)),
    ("GET", "/settings/webhooks", (200, 200, 200, 200, 404)),
    ("PUT", "/settings/webhooks", (200, 200, 403, 403, 404)),
    ("POST", "/settings/webhooks/signing-key", (201, 201, 403, 403, 404)),
]


def test_who_may_see_and_change_webhooks(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    actors = {"owner": owner}
    for role in ROLES[1:]:
        actors[role] = signup(f"{role}@example.com")
        if role != "outsider":
            join(owner, owner.workspace_id, actors[role], role)
    hook = create_hook(owner)
    for method, template, expected in MATRIX:
        path = f"/api/v1/workspaces/{owner.workspace_id}" + template.format(wf=hook.workflow_id)
        for role, status in zip(ROLES, expected, strict=True):
            kwargs: dict[str, Any] = {"json": {"burst": 20}} if method == "PUT" else {}
            response = actors[role].request(method, path, **kwargs)
            assert response.status_code == status, (method, template, role, response.text)
            if status >= 400:
                assert_problem(response, status)
                assert "token" not in response.json() and "signing_key" not in response.json()


def test_senders_are_answered_by_a_plain_route_ahead_of_the_documented_one(settings: Settings) -> None:
    """POST /hooks/... is matched first by a plain Starlette route (no dependency solving per request);
    FastAPI's route for it still documents the endpoint."""
    from starlette.routing import Route

    from flowvault.app import create_app
    from flowvault.triggers.router import HOOK_PATH

    app = create_app(settings)
    first = app.router.routes[0]
    assert isinstance(first, Route) and first.path == HOOK_PATH and first.methods == {"POST"}
    documented = app.openapi()["paths"][HOOK_PATH]["post"]
    assert set(documented["responses"]) >= {"202", "404", "429"}
