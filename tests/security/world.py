"""A populated installation for the security suites, built once per backend through the API:

- workspace A ("Canary Matrix Team"): owner, admin, user, viewer and a "target" member; a secret, a
  workflow with a Webhook trigger (and its webhook URL), a workflow that fails, a succeeded run, a
  failed run (in the dead-letter queue), a queued run, a pending invitation to someone else;
- workspace B ("Other Team") of another owner, with a secret and a workflow of its own;
- an outsider with only a personal workspace, and a spare API token of A's owner.

Then the server used by the tests is started without workers (``executor="celery"`` and no worker),
so a queued run stays queued, and the rows of every table are kept: ``restore()`` puts them back
after a test changed something, ``changed_tables()`` says which tables differ from them.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, delete, event, select

from flowvault.app import create_app
from flowvault.config import Settings
from flowvault.db.engine import sync_url
from flowvault.db.models import Base
from tests.conftest import Actor, join, sign_up

API = "/api/v1"
WORKSPACE_NAME = "Canary Matrix Team"
OTHER_WORKSPACE_NAME = "Other Team"
SECRET_NAME = "canary-matrix-secret"
SECRET_VALUE = "canary-matrix-value-7c1d9e"
HOOK_FLOW, FAILING_FLOW = "Canary Hooked Flow", "Canary Failing Flow"
LOGIN_EMAIL = "login-only@example.com"
MEMBER_ROLES = ("viewer", "user", "admin", "owner")
VOLATILE_COLUMNS = {("api_tokens", "last_used_at")}
"""Written by every authenticated request, refused or not."""


def api_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every APIRoute the application serves (HEAD aside)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)  # FastAPI ≥ 0.130 nests included routers
    found: set[tuple[str, str]] = set()
    for item in iterate(app.routes) if iterate is not None else app.routes:
        route = getattr(item, "original_route", item)
        if isinstance(route, APIRoute):
            found |= {(method, str(item.path)) for method in item.methods or () if method != "HEAD"}
    return found


def wait_for_run(actor: Actor, ws: str, run_id: str, deadline_s: float = 20.0) -> dict[str, Any]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        run: dict[str, Any] = actor.get(f"{API}/workspaces/{ws}/runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish within {deadline_s} s")


def created(response: Any, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


class AsgiClient:
    """Requests straight into the application on an event loop of the test's own thread. A TestClient
    hands every request to the server's thread and back, which costs more than most requests here."""

    def __init__(self, app: FastAPI, stack: ExitStack) -> None:
        self.runner = asyncio.Runner()
        stack.callback(self.runner.close)
        self.app = app
        self._open = AsyncExitStack()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        self.runner.run(self._open.enter_async_context(app.router.lifespan_context(app)))
        self._open.push_async_callback(self.http.aclose)
        stack.callback(lambda: self.runner.run(self._open.aclose()))
        self.writes: list[str] = []
        """The statements of the last request that could change a row (the token's last use aside)."""
        event.listen(app.state.flowvault.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        head = statement.lstrip()[:40].upper()
        if head.startswith(("INSERT", "UPDATE", "DELETE")) and not head.startswith("UPDATE API_TOKENS SET LAST_USED"):
            self.writes.append(statement)

    def request(self, method: str, path: str, *, token: str | None = None, json: Any = None) -> httpx.Response:
        """Sends no cookies and keeps none (sign-up and log-in set them)."""
        self.http.cookies.clear()
        self.writes = []
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            return self.runner.run(self.http.request(method, path, json=json, headers=headers))
        finally:
            self.http.cookies.clear()


@dataclass
class World:
    client: AsgiClient
    settings: Settings
    actors: dict[str, Actor]
    ws: str
    other_ws: str
    ids: dict[str, str]
    """The objects of workspace A by path parameter: secret_id, workflow_id, user_id, invitation_id,
    token_id (the owner's spare API token), token (the webhook token), and run ids by kind."""
    a_names: tuple[str, ...]
    """Strings that only someone who can see workspace A may ever read."""
    engine: Engine
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def call(self, role: str, method: str, path: str, json: Any = None) -> httpx.Response:
        token = None if role == "anonymous" else self.actors[role].token
        return self.client.request(method, path, token=token, json=json)

    def snapshot(self) -> None:
        with self.engine.connect() as connection:
            self.rows = {
                t.name: [dict(r) for r in connection.execute(select(t)).mappings()] for t in Base.metadata.sorted_tables
            }

    def restore(self) -> None:
        with self.engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(delete(table))
            for table in Base.metadata.sorted_tables:
                if self.rows[table.name]:
                    connection.execute(table.insert(), self.rows[table.name])

    def changed_tables(self) -> list[str]:
        changed = []
        with self.engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                now = connection.execute(select(table)).mappings().all()
                if _stable(table.name, now) != _stable(table.name, self.rows[table.name]):
                    changed.append(table.name)
        return changed


def _stable(table: str, rows: Any) -> list[str]:
    return sorted(repr(sorted((k, v) for k, v in dict(r).items() if (table, k) not in VOLATILE_COLUMNS)) for r in rows)


def _populate(client: TestClient) -> tuple[dict[str, Actor], str, str, dict[str, str]]:
    owner = sign_up(client, "owner.of.a@example.com")
    ws = created(owner.post(f"{API}/workspaces", json={"name": WORKSPACE_NAME}))["id"]
    actors = {"owner": owner}
    for role in ("admin", "user", "viewer", "target"):
        actors[role] = sign_up(client, f"{role}.of.a@example.com")
        join(owner, ws, actors[role], "user" if role == "target" else role)
    actors["outsider"] = sign_up(client, "outsider@example.com")
    other = actors["other_owner"] = sign_up(client, "other-owner@example.com")
    other_ws = created(other.post(f"{API}/workspaces", json={"name": OTHER_WORKSPACE_NAME}))["id"]
    sign_up(client, LOGIN_EMAIL)

    a, b = f"{API}/workspaces/{ws}", f"{API}/workspaces/{other_ws}"
    bearer = {"type": "http_bearer", "fields": {"token": SECRET_VALUE}}
    ids = {"ws": ws}
    ids["secret_id"] = created(owner.post(f"{a}/secrets", json={**bearer, "name": SECRET_NAME}))["id"]
    created(actors["target"].post(f"{a}/secrets", json={**bearer, "name": "canary-target-secret"}))
    created(other.post(f"{b}/secrets", json={**bearer, "name": "other-secret", "fields": {"token": "other-value-1"}}))
    for base, actor in ((a, owner), (b, other)):
        created(actor.put(f"{base}/settings/engine", json={"concurrency": 5, "egress_allowlist": []}), 200)
        created(actor.put(f"{base}/settings/webhooks", json={"rate_per_s": 5}), 200)
    hooked = {
        "nodes": [{"id": "t", "type": "webhook_trigger", "name": "Hook", "config": {}},
                  {"id": "f", "type": "formatter", "name": "Shout", "config": {"operation": "upper", "value": "hi"}}],
        "edges": [{"source": "t", "target": "f"}],
    }
    failing = {
        "nodes": [{"id": "t", "type": "manual_trigger", "name": "Start", "config": {}},
                  {"id": "h", "type": "http_request", "name": "Fetch",
                   "config": {"method": "GET", "url": "https://blocked.example.com/x", "auth": "none"}}],
        "edges": [{"source": "t", "target": "h"}],
    }
    ids["workflow_id"] = created(owner.post(f"{a}/workflows", json={"name": HOOK_FLOW, "graph": hooked}))["id"]
    failing_id = created(owner.post(f"{a}/workflows", json={"name": FAILING_FLOW, "graph": failing}))["id"]
    created(other.post(f"{b}/workflows", json={"name": "Other flow", "graph": hooked}))
    ids["token"] = created(owner.get(f"{a}/workflows/{ids['workflow_id']}/webhook"), 200)["token"]

    done = created(owner.post(f"{a}/workflows/{ids['workflow_id']}/runs", json={"input": {}}), 202)["id"]
    failed = created(owner.post(f"{a}/workflows/{failing_id}/runs", json={"input": {}}), 202)["id"]
    assert wait_for_run(owner, ws, done)["status"] == "succeeded"
    assert wait_for_run(owner, ws, failed)["status"] == "failed"
    ids["run_id:done"], ids["run_id:failed"] = done, failed
    ids["user_id"] = actors["target"].id
    invited = owner.post(f"{a}/invitations", json={"email": "invitee@example.com", "role": "user"})
    ids["invitation_id"] = created(invited)["id"]
    ids["token_id"] = created(owner.post(f"{API}/tokens", json={"name": "spare"}))["id"]
    client.cookies.clear()
    return actors, ws, other_ws, ids


def build_world(settings: Settings, stack: ExitStack) -> World:
    """Builds the world with a server that runs runs, then starts (on ``stack``) the one the tests use:
    no workers (a queued run stays queued), called in the test's thread."""
    with TestClient(create_app(settings)) as client:
        actors, ws, other_ws, ids = _populate(client)
    quiet = settings.model_copy(update={"executor": "celery", "redis_url": None})  # queue only: no worker
    client = AsgiClient(create_app(quiet), stack)
    queued = client.request("POST", f"{API}/workspaces/{ws}/workflows/{ids['workflow_id']}/runs",
                            token=actors["owner"].token, json={"input": {}})
    ids["run_id:queued"] = created(queued, 202)["id"]
    engine = create_engine(sync_url(settings.resolved_database_url))
    stack.callback(engine.dispose)
    a_names = (WORKSPACE_NAME, SECRET_NAME, "canary-target-secret", HOOK_FLOW, FAILING_FLOW,
               *(actors[r].email for r in ("owner", "admin", "user", "viewer", "target")), "invitee@example.com")
    world = World(client, quiet, actors, ws, other_ws, ids, a_names, engine)
    world.snapshot()
    return world


def settings_for(data_dir: Path, database_url: str | None) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url, master_keys=None, master_key_file=None,
                    embedded_workers=2)
