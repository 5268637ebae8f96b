"""A populated installation to scan: a workspace whose credentials went out in a real run (the step
record holds ``[REDACTED:...]`` where the echo sent them back), plus helpers that plant a value
straight into a row, the way a bug that bypassed redaction would leave it."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, insert, select, update
from typer.testing import CliRunner, Result

from flowvault.auth import passwords
from flowvault.cli import app
from flowvault.config import Settings
from flowvault.db.engine import sync_url
from flowvault.db.models import RunStep, Workflow
from tests.conftest import sign_up
from tests.fakes import FakeEcho, FakeSlack
from tests.runs.conftest import allow_hosts, create_workflow, run_and_wait, secret

Cli = Callable[..., Result]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BEARER, BASIC = "Echo API", "Basic creds"


def canary(label: str) -> str:
    """Distinctive, with characters that make URL-encoding and base64 alignment matter."""
    return f"cnry-{label}-{uuid4().hex}/+=?&~x"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def settings(settings: Settings, fake_echo: FakeEcho, fake_slack: FakeSlack) -> Settings:
    return settings.model_copy(update={
        "allow_private_hosts": fake_echo.host, "slack_api_url": f"{fake_slack.url}/api", "embedded_workers": 2,
    })


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``flowvault ARGS`` configured like an operator's shell, through FLOWVAULT_* variables."""
    for name in list(os.environ):
        if name.startswith("FLOWVAULT_") and not name.startswith("FLOWVAULT_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FLOWVAULT_DATA_DIR", str(settings.data_dir))
    if settings.database_url is not None:
        monkeypatch.setenv("FLOWVAULT_DATABASE_URL", settings.database_url)
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return run


def text(result: Result) -> str:
    """Everything the command printed, without colour codes, whitespace runs made one space."""
    return " ".join(ANSI.sub("", result.output).split())


@dataclass
class Installation:
    settings: Settings
    workspace_id: str
    token: str
    token_id: str
    username: str
    password: str
    basic_id: str
    workflow_id: str
    run_id: str
    step_seq: int


@pytest.fixture
def installation(client: TestClient, settings: Settings, fake_echo: FakeEcho) -> Installation:
    """One workspace, two credentials, and a succeeded run that sent the bearer token to the echo."""
    actor = sign_up(client, f"owner-{uuid4().hex[:8]}@example.com")
    allow_hosts(actor, fake_echo.host)
    token, username, password = canary("token"), "alice", canary("password")
    token_id = secret(actor, "http_bearer", BEARER, token=token)
    basic_id = secret(actor, "http_basic", BASIC, username=username, password=password)
    graph = {
        "nodes": [
            {"id": "t", "type": "manual_trigger", "name": "Start", "config": {}},
            {"id": "h", "type": "http_request", "name": "Fetch",
             "config": {"method": "GET", "url": f"{fake_echo.url}/echo", "auth": "bearer", "credential_id": token_id}},
        ],
        "edges": [{"source": "t", "target": "h"}],
    }
    workflow = create_workflow(actor, graph, name="Echo")
    run = run_and_wait(actor, workflow["id"])
    assert run["status"] == "succeeded", run
    step = next(s for s in run["steps"] if s["node_id"] == "h")
    # Controls: the token really went out and came back, and the record holds the marker instead.
    assert fake_echo.saw(token)
    assert f"[REDACTED:{BEARER}]" in str(step["output"])
    return Installation(settings, actor.workspace_id, token, token_id, username, password, basic_id,
                        workflow["id"], run["id"], len(run["steps"]))


@pytest.fixture
def database(settings: Settings) -> Iterator[Engine]:
    """A synchronous engine on the installation's database, to change rows behind the API's back."""
    engine = create_engine(sync_url(settings.resolved_database_url))
    yield engine
    engine.dispose()


def plant_in_workflow_copy(engine: Engine, workflow_id: str, copy_id: str, planted: str) -> None:
    """A copy of the workflow (id ``copy_id``) whose HTTP node config holds ``planted`` in a header."""
    table = Workflow.__table__
    with engine.begin() as connection:
        row = dict(connection.execute(select(table).where(table.c.id == workflow_id)).mappings().one())
        graph: dict[str, Any] = row["graph"]
        graph["nodes"][1]["config"]["headers"] = {"X-Debug": f"copied {planted} here"}
        connection.execute(insert(table).values({**row, "id": copy_id, "graph": graph}))


def plant_in_step_copy(engine: Engine, run_id: str, seq: int, copy_seq: int, planted: str) -> None:
    """A copy of the run's step ``seq`` (as step ``copy_seq``) whose output holds ``planted``."""
    table = RunStep.__table__
    with engine.begin() as connection:
        row = dict(connection.execute(
            select(table).where(table.c.run_id == run_id, table.c.seq == seq)).mappings().one())
        output = {"status": 200, "body": {"echoed": f"x{planted}y"}}
        connection.execute(insert(table).values({**row, "seq": copy_seq, "output": output}))


def plant_in_step_output(engine: Engine, run_id: str, seq: int, planted: str) -> None:
    table = RunStep.__table__
    with engine.begin() as connection:
        connection.execute(
            update(table)
            .where(table.c.run_id == run_id, table.c.seq == seq)
            .values(output={"status": 200, "body": {"echoed": f"x{planted}y"}})
        )
