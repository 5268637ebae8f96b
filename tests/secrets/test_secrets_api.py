from __future__ import annotations

from typing import Any

from tests.conftest import Actor


def _url(actor: Actor, rest: str = "") -> str:
    return f"/api/v1/workspaces/{actor.workspace_id}/secrets{rest}"


def _create(actor: Actor, **body: Any) -> dict[str, Any]:
    response = actor.post(_url(actor), json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_create_returns_metadata_only(signup: Any) -> None:
    owner: Actor = signup("o@example.com")
    created = _create(owner, type="http_basic", name="staging", description="Basic auth for staging",
                      fields={"username": "deploy-bot", "password": "pw-value-0001"})
    assert created["public_fields"] == {"username": "deploy-bot"}
    assert created["version"] == 1 and created["created_by"]["email"] == "o@example.com"
    assert created["used_by"] == [] and created["last_used_at"] is None
    assert "pw-value-0001" not in str(created)


def test_validation_names_the_field(signup: Any) -> None:
    owner: Actor = signup("o@example.com")
    cases = [
        ({"type": "nope", "name": "x", "fields": {}}, "type", "Unknown credential type"),
        ({"type": "http_basic", "name": "x", "fields": {"username": "u"}}, "fields.password", "required"),
        ({"type": "http_bearer", "name": "x", "fields": {"token": "short"}}, "fields.token", "at least 8"),
        ({"type": "http_bearer", "name": "x", "fields": {"token": "long-enough-1", "extra": "y"}}, "fields.extra",
         "not a field"),
        ({"type": "http_header", "name": "x", "fields": {"header_name": "bad header", "value": "long-enough-1"}},
         "fields.header_name", "pattern"),
        ({"type": "http_bearer", "name": "   ", "fields": {"token": "long-enough-1"}}, "name", "name"),
        ({"type": "http_bearer", "fields": {"token": "long-enough-1"}}, "name", "Field required"),
    ]
    for body, field, words in cases:
        response = owner.post(_url(owner), json=body)
        assert response.status_code == 422, (body, response.text)
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["field"] == field, (body, problem)
        assert words.lower() in problem["detail"].lower(), (body, problem)
    assert owner.get(_url(owner)).json()["items"] == [], "a refused create writes nothing"


def test_name_unique_per_type(signup: Any) -> None:
    owner: Actor = signup("o@example.com")
    _create(owner, type="http_bearer", name="prod", fields={"token": "token-value-1"})
    duplicate = owner.post(_url(owner), json={"type": "http_bearer", "name": "prod", "fields": {"token": "xyzxyzxyz"}})
    assert duplicate.status_code == 409 and "rotate" in duplicate.json()["detail"]
    _create(owner, type="slack_token", name="prod", fields={"token": "xoxb-value-1"})


def test_list_filters_by_type_and_node_type(signup: Any) -> None:
    owner: Actor = signup("o@example.com")
    _create(owner, type="http_bearer", name="b", fields={"token": "token-value-1"})
    _create(owner, type="http_basic", name="a", fields={"username": "u", "password": "password-1"})
    _create(owner, type="slack_token", name="s", fields={"token": "xoxb-value-1"})
    _create(owner, type="sendgrid_api_key", name="g", fields={"api_key": "SG.value-0001"})
    names = lambda **q: [s["name"] for s in owner.get(_url(owner), params=q).json()["items"]]  # noqa: E731
    assert names() == ["a", "b", "g", "s"]
    assert names(type="slack_token") == ["s"]
    assert names(node_type="http_request") == ["a", "b"]
    assert names(node_type="slack") == ["s"]
    assert names(node_type="sendgrid") == ["g"]
    assert names(node_type="unknown_node") == []


def test_rotate_in_place_bumps_version(signup: Any) -> None:
    owner: Actor = signup("o@example.com")
    created = _create(owner, type="http_basic", name="x", fields={"username": "old-user", "password": "password-1"})
    rotated = owner.put(_url(owner, f"/{created['id']}/value"), json={"fields": {"password": "password-2"}})
    assert rotated.status_code == 200
    body = rotated.json()
    assert body["id"] == created["id"] and body["version"] == 2
    assert body["public_fields"] == {"username": "old-user"}, "public fields not given are kept"
    renamed = owner.put(_url(owner, f"/{created['id']}/value"),
                        json={"fields": {"username": "new-user", "password": "password-3"}})
    assert renamed.json()["version"] == 3 and renamed.json()["public_fields"] == {"username": "new-user"}
    missing = owner.put(_url(owner, f"/{created['id']}/value"), json={"fields": {}})
    assert missing.status_code == 422 and missing.json()["field"] == "fields.password"
    short = owner.put(_url(owner, f"/{created['id']}/value"), json={"fields": {"password": "abc"}})
    assert short.status_code == 422
    assert owner.get(_url(owner, f"/{created['id']}")).json()["version"] == 3, "refused rotations change nothing"
    events = owner.get(f"/api/v1/workspaces/{owner.workspace_id}/audit", params={"action": "secret.rotated"})
    assert [e["details"]["version"] for e in events.json()["items"]] == [3, 2]


def _uses(actor: Actor, workflow: str, node: str, secret_id: str) -> None:
    graph = {"nodes": [{"id": "n1", "type": "http_request", "name": node,
                        "config": {"url": "https://api.example.com/", "auth": "bearer", "credential_id": secret_id}}]}
    response = actor.post(f"/api/v1/workspaces/{actor.workspace_id}/workflows", json={"name": workflow, "graph": graph})
    assert response.status_code == 201, response.text


def test_delete_in_use_answers_409_with_usage_unless_forced(signup: Any) -> None:
    owner: Actor = signup("o@example.com")
    created = _create(owner, type="http_bearer", name="x", fields={"token": "token-value-1"})
    _uses(owner, "Nightly sync", "Fetch orders", created["id"])
    _uses(owner, "Alerts", "Call API", created["id"])
    detail = owner.get(_url(owner, f"/{created['id']}")).json()
    assert [u["workflow_name"] for u in detail["used_by"]] == ["Alerts", "Nightly sync"]
    listed = owner.get(_url(owner)).json()["items"][0]
    assert (listed["used_by_count"], listed["used_by_workflow_count"]) == (2, 2)
    refused = owner.delete(_url(owner, f"/{created['id']}"))
    assert refused.status_code == 409
    problem = refused.json()
    assert {u["node_name"] for u in problem["used_by"]} == {"Fetch orders", "Call API"}
    assert "force=true" in problem["detail"]
    assert owner.delete(_url(owner, f"/{created['id']}"), params={"force": "true"}).status_code == 204
    assert owner.get(_url(owner, f"/{created['id']}")).status_code == 404
    deleted = owner.get(f"/api/v1/workspaces/{owner.workspace_id}/audit", params={"action": "secret.deleted"})
    assert deleted.json()["items"][0]["target_id"] == created["id"]


def test_secret_of_another_workspace_is_not_found(signup: Any) -> None:
    alice: Actor = signup("alice@example.com")
    bob: Actor = signup("bob@example.com")
    secret = _create(alice, type="http_bearer", name="x", fields={"token": "token-value-1"})
    # Bob uses his own workspace id with Alice's secret id.
    assert bob.get(_url(bob, f"/{secret['id']}")).status_code == 404
    assert bob.put(_url(bob, f"/{secret['id']}/value"), json={"fields": {"token": "other-value"}}).status_code == 404
    assert bob.delete(_url(bob, f"/{secret['id']}")).status_code == 404
    assert alice.get(_url(alice, f"/{secret['id']}")).json()["version"] == 1
