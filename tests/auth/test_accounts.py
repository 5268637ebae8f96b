from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, Actor


def test_signup_logs_in_and_creates_personal_workspace(client: TestClient) -> None:
    response = client.post("/api/v1/auth/signup", json={"email": "Ada@Example.com", "password": PASSWORD})
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["email"] == "ada@example.com"
    set_cookie = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in set_cookie if c.startswith("flowvault_session="))
    assert "httponly" in session_cookie.lower() and "samesite=lax" in session_cookie.lower()
    csrf_cookie = next(c for c in set_cookie if c.startswith("flowvault_csrf="))
    assert "httponly" not in csrf_cookie.lower()
    me = client.get("/api/v1/me").json()
    assert me["email"] == "ada@example.com"
    assert me["workspaces"] == [
        {"id": body["workspace"]["id"], "name": "Personal", "role": "owner", "personal": True}
    ]


def test_signup_refuses_duplicate_email_and_weak_password(client: TestClient) -> None:
    assert client.post("/api/v1/auth/signup", json={"email": "a@example.com", "password": PASSWORD}).status_code == 201
    again = client.post("/api/v1/auth/signup", json={"email": "A@example.com", "password": PASSWORD})
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]
    weak = client.post("/api/v1/auth/signup", json={"email": "b@example.com", "password": "short"})
    assert weak.status_code == 422
    assert weak.headers["content-type"] == "application/problem+json"
    assert weak.json()["field"] == "password"
    bad_email = client.post("/api/v1/auth/signup", json={"email": "not-an-email", "password": PASSWORD})
    assert bad_email.status_code == 422 and bad_email.json()["field"] == "email"


def test_login_logout_and_wrong_password(client: TestClient, signup: object) -> None:
    client.post("/api/v1/auth/signup", json={"email": "a@example.com", "password": PASSWORD})
    client.cookies.clear()
    assert client.get("/api/v1/me").status_code == 401
    wrong = client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": "wrong password"})
    assert wrong.status_code == 401
    unknown = client.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    assert unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": PASSWORD}).status_code == 200
    assert client.get("/api/v1/me").status_code == 200
    csrf = client.cookies.get("flowvault_csrf")
    session_cookie = client.cookies.get("flowvault_session")
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf or ""}).status_code == 204
    client.cookies.set("flowvault_session", session_cookie or "")
    assert client.get("/api/v1/me").status_code == 401, "a logged-out session must not work again"


def test_api_token_shown_once_stored_hashed_and_revocable(client: TestClient, signup: object) -> None:
    actor: Actor = signup("t@example.com")  # type: ignore[operator]
    listed = actor.get("/api/v1/tokens").json()
    assert len(listed) == 1 and "token" not in listed[0]
    assert listed[0]["prefix"] == actor.token[:8]
    created = actor.post("/api/v1/tokens", json={"name": "ci"}).json()
    second = Actor(client, actor.id, actor.email, created["token"], actor.workspace_id)
    assert second.get("/api/v1/me").status_code == 200
    assert actor.delete(f"/api/v1/tokens/{created['id']}").status_code == 204
    revoked = second.get("/api/v1/me")
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    assert actor.get("/api/v1/me").status_code == 200
    other = signup("u@example.com")  # type: ignore[operator]
    assert other.delete(f"/api/v1/tokens/{listed[0]['id']}").status_code == 404


def test_problem_json_for_unknown_routes(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_openapi_docs_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/v1/workspaces/{ws}/secrets" in schema["paths"]
    assert client.get("/docs").status_code == 200
