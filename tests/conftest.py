"""Shared fixtures. Every API test runs once per database backend: SQLite always, PostgreSQL when
``FLOWVAULT_TEST_POSTGRES_URL`` is set (``make test`` starts a throwaway server and sets it)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from flowvault.app import create_app
from flowvault.config import Settings
from flowvault.db import migrate
from flowvault.db.models import Base
from flowvault.secrets.keyring import create_key_file
from tests.fakes.fixtures import fake_echo, fake_sendgrid, fake_slack  # noqa: F401 (fixtures)

POSTGRES_URL = os.environ.get("FLOWVAULT_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "flowvault.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    assert POSTGRES_URL
    migrate.upgrade(POSTGRES_URL)
    return POSTGRES_URL


def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Settings]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    create_key_file(data_dir / "master.key")
    if backend == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), data_dir / "flowvault.db")
        yield Settings(data_dir=data_dir, database_url=None, master_keys=None, master_key_file=None)
        return
    url = request.getfixturevalue("postgres_migrated")
    _truncate_postgres(url)
    yield Settings(data_dir=data_dir, database_url=url, master_keys=None, master_key_file=None)
    _truncate_postgres(url)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@dataclass
class Actor:
    """A signed-up user who talks to the API with a personal API token."""

    client: TestClient
    id: str
    email: str
    token: str
    workspace_id: str

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


def sign_up(client: TestClient, email: str) -> Actor:
    client.cookies.clear()
    response = client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    body = response.json()
    csrf = client.cookies.get("flowvault_csrf")
    assert csrf
    token = client.post("/api/v1/tokens", json={"name": "tests"}, headers={"X-CSRF-Token": csrf})
    assert token.status_code == 201, token.text
    client.cookies.clear()
    return Actor(client, body["user"]["id"], email, token.json()["token"], body["workspace"]["id"])


@pytest.fixture
def signup(client: TestClient) -> Any:
    def make(email: str) -> Actor:
        return sign_up(client, email)

    return make


def join(owner: Actor, ws: str, member: Actor, role: str) -> None:
    """Invites ``member`` into ``ws`` with ``role`` and accepts."""
    invitation = owner.post(f"/api/v1/workspaces/{ws}/invitations", json={"email": member.email, "role": role})
    assert invitation.status_code == 201, invitation.text
    accepted = member.post(f"/api/v1/invitations/{invitation.json()['id']}/accept")
    assert accepted.status_code == 200, accepted.text


async def new_workflow(state: Any) -> Any:
    """A workspace with one empty workflow, straight in the database (``state``: an open AppState)."""
    from flowvault.workflows.models import Workflow
    from flowvault.workspaces.models import Workspace

    async with state.sessions() as session:
        workspace = Workspace(name="w")
        session.add(workspace)
        await session.flush()
        workflow = Workflow(workspace_id=workspace.id, name="wf", graph={"nodes": [], "edges": []})
        session.add(workflow)
        await session.commit()
        return workflow
