"""A DB-only attacker edits the rows, and key rotation happens under load (SPEC §3).

- A ciphertext, a nonce or a wrapped workspace key changed in the database, a ciphertext copied from
  another secret, another workspace or an older version of the same secret: the run that needs it fails
  with the one opaque "could not be decrypted" error (the same words whatever was changed), the value
  never goes out, the server keeps serving, and the API answers the one problem+json for it.
- Master-key rotation (what `flowvault keys rotate --new-key` does, from its own engine and key ring)
  while runs execute: no run fails, and every request carried the right token. The command itself,
  against a real server process, is tests/test_serve.py::test_online_master_key_rotation.

A wrong master key stopping start-up is proven by
tests/test_serve.py::test_wrong_master_key_refuses_to_start_and_never_listens (a real process that never
listens); it is not repeated here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any
from uuid import uuid4

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, select, update

from flowvault.app import create_app
from flowvault.auth import passwords
from flowvault.config import Settings
from flowvault.db.engine import make_engine, make_sessionmaker, sync_url
from flowvault.db.models import SealedField, WorkspaceKey
from flowvault.secrets.crypto import NONCE_BYTES
from flowvault.secrets.keyring import KeyRing, append_key
from flowvault.secrets.vault import Vault
from flowvault.workflows import hardcoded
from tests.conftest import Actor, sign_up
from tests.fakes import FakeEcho
from tests.runs.conftest import allow_hosts, create_workflow, run_and_wait, secret

UNDECRYPTABLE = "could not be decrypted"
API_TITLE = "Secret could not be decrypted"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def settings(settings: Settings, fake_echo: FakeEcho) -> Settings:
    # No workspace key cache: every use unwraps from the database, so a row changed under a running server
    # (or re-wrapped by a rotation) is what the next run really reads.
    return settings.model_copy(update={
        "allow_private_hosts": fake_echo.host, "embedded_workers": 5, "workspace_key_cache_seconds": 0,
    })


@pytest.fixture
def database(settings: Settings) -> Iterator[Engine]:
    engine = create_engine(sync_url(settings.resolved_database_url))
    yield engine
    engine.dispose()


def token_value() -> str:
    return f"tamper-{uuid4().hex}"


def echo_graph(echo: FakeEcho, credential_id: str, delay: float | None = None) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"id": "t", "type": "manual_trigger", "name": "Start", "config": {}}]
    if delay is not None:
        nodes.append({"id": "d", "type": "delay", "name": "Wait", "config": {"seconds": delay}})
    nodes.append({"id": "h", "type": "http_request", "name": "Fetch",
                  "config": {"method": "GET", "url": f"{echo.url}/echo", "auth": "bearer",
                             "credential_id": credential_id}})
    return {"nodes": nodes, "edges": [{"source": a["id"], "target": b["id"]} for a, b in pairwise(nodes)]}


@dataclass
class Setup:
    actor: Actor
    values: dict[str, str]
    """secret id -> token"""
    workflows: dict[str, str]
    """secret id -> id of a workflow whose HTTP node uses it"""


def set_up(client: TestClient, echo: FakeEcho, email: str, count: int = 1) -> Setup:
    actor = sign_up(client, email)
    allow_hosts(actor, echo.host)
    values, workflows = {}, {}
    for number in range(count):
        value = token_value()
        secret_id = secret(actor, "http_bearer", f"Echo token {number}", token=value)
        values[secret_id] = value
        workflows[secret_id] = create_workflow(actor, echo_graph(echo, secret_id), name=f"Uses {number}")["id"]
    return Setup(actor, values, workflows)


def flip(blob: bytes, index: int) -> bytes:
    return blob[:index] + bytes([blob[index] ^ 0x01]) + blob[index + 1 :]


def sealed(engine: Engine, secret_id: str) -> bytes:
    table = SealedField.__table__
    with engine.connect() as connection:
        blob: bytes = connection.scalar(select(table.c.ciphertext).where(table.c.secret_id == secret_id))
    return blob


def set_sealed(engine: Engine, secret_id: str, blob: bytes) -> None:
    table = SealedField.__table__
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.secret_id == secret_id).values(ciphertext=blob))


def wrapped(engine: Engine, workspace_id: str) -> bytes:
    table = WorkspaceKey.__table__
    with engine.connect() as connection:
        blob: bytes = connection.scalar(select(table.c.wrapped_key).where(table.c.workspace_id == workspace_id))
    return blob


def set_wrapped(engine: Engine, workspace_id: str, blob: bytes) -> None:
    table = WorkspaceKey.__table__
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.workspace_id == workspace_id).values(wrapped_key=blob))


def expected_run_error(name: str, secret_id: str) -> str:
    return (f"Node 'Fetch' failed: its credential '{name}' (id {secret_id}) {UNDECRYPTABLE}: its stored value was "
            "altered, or the master key does not match. Enter its value again (rotate it) in Settings → Secrets & "
            "API Keys, or restore the database from a backup.")


def assert_refused(setup: Setup, echo: FakeEcho, secret_id: str, name: str, *, plaintexts: list[str]) -> None:
    """A run that needs the secret fails with the opaque error; nothing went out; the server still serves."""
    before = len(echo.requests)
    run = run_and_wait(setup.actor, setup.workflows[secret_id])
    assert run["status"] == "failed", run
    assert run["error"] == expected_run_error(name, secret_id), run["error"]
    (step,) = [s for s in run["steps"] if s["node_id"] == "h"]
    assert step["status"] == "failed" and UNDECRYPTABLE in step["error"]
    assert step["credentials"] == []  # never resolved, so never used
    assert len(echo.requests) == before, "a request went out with an undecryptable credential"
    shown = str(run)
    for value in plaintexts:
        assert value not in shown
        assert not echo.saw(value)
    assert setup.actor.get(f"/api/v1/workspaces/{setup.actor.workspace_id}/secrets").status_code == 200


def assert_api_refuses(setup: Setup, plaintexts: list[str]) -> None:
    """The first workflow save of a process decrypts every secret of the workspace (the "no hardcoded
    tokens" check builds its index): the API answers the one problem+json for a value that does not
    decrypt, and keeps serving. The index is dropped first, so this save is such a first one."""
    hardcoded.INDEXES.clear()
    response = setup.actor.post(f"/api/v1/workspaces/{setup.actor.workspace_id}/workflows",
                                json={"name": "After tampering", "graph": {"nodes": [], "edges": []}})
    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["title"] == API_TITLE and UNDECRYPTABLE in body["detail"], body
    for value in plaintexts:
        assert value not in response.text


TAMPERINGS: dict[str, Callable[[Engine, Setup, str], None]] = {
    "ciphertext": lambda db, s, sid: set_sealed(db, sid, flip(sealed(db, sid), 1 + NONCE_BYTES + 2)),
    "authentication tag": lambda db, s, sid: set_sealed(db, sid, flip(sealed(db, sid), len(sealed(db, sid)) - 1)),
    "nonce": lambda db, s, sid: set_sealed(db, sid, flip(sealed(db, sid), 1 + NONCE_BYTES // 2)),
    "format byte": lambda db, s, sid: set_sealed(db, sid, flip(sealed(db, sid), 0)),
    "wrapped workspace key": lambda db, s, sid: set_wrapped(
        db, s.actor.workspace_id, flip(wrapped(db, s.actor.workspace_id), 20)),
}


@pytest.mark.parametrize("what", list(TAMPERINGS))
def test_a_changed_ciphertext_nonce_or_wrapped_key_fails_the_run_with_the_one_opaque_error(
    client: TestClient, fake_echo: FakeEcho, database: Engine, what: str
) -> None:
    setup = set_up(client, fake_echo, f"owner-{uuid4().hex[:8]}@example.com")
    (secret_id, value), = setup.values.items()
    # Control: untouched, the run succeeds and the echo sees the token.
    assert run_and_wait(setup.actor, setup.workflows[secret_id])["status"] == "succeeded"
    assert fake_echo.saw(value)
    fake_echo.reset()

    TAMPERINGS[what](database, setup, secret_id)

    assert_refused(setup, fake_echo, secret_id, "Echo token 0", plaintexts=[value])
    assert_api_refuses(setup, [value])


def test_a_ciphertext_moved_to_another_row_workspace_or_version_is_refused(
    client: TestClient, fake_echo: FakeEcho, database: Engine
) -> None:
    mine = set_up(client, fake_echo, f"owner-{uuid4().hex[:8]}@example.com", count=3)
    theirs = set_up(client, fake_echo, f"other-{uuid4().hex[:8]}@example.com")
    (first, second, third), values = list(mine.values), mine.values
    (foreign, foreign_value), = theirs.values.items()
    plaintexts = [*values.values(), foreign_value]

    # Another secret's ciphertext, of the same workspace, copied over this one's (a row swap).
    set_sealed(database, second, sealed(database, first))
    assert_refused(mine, fake_echo, second, "Echo token 1", plaintexts=plaintexts)

    # Another workspace's ciphertext.
    set_sealed(database, third, sealed(database, foreign))
    assert_refused(mine, fake_echo, third, "Echo token 2", plaintexts=plaintexts)

    # The same secret's previous version (an old backup row put back after a rotation).
    old = sealed(database, first)
    rotated = mine.actor.put(f"/api/v1/workspaces/{mine.actor.workspace_id}/secrets/{first}/value",
                             json={"fields": {"token": token_value()}})
    assert rotated.status_code == 200 and rotated.json()["version"] == 2, rotated.text
    set_sealed(database, first, old)
    assert_refused(mine, fake_echo, first, "Echo token 0", plaintexts=plaintexts)

    # The other workspace, untouched, still works: only the moved rows are refused.
    run = run_and_wait(theirs.actor, theirs.workflows[foreign])
    assert run["status"] == "succeeded", run
    assert fake_echo.saw(foreign_value)


def test_a_workspace_key_wrapped_for_another_workspace_is_refused(
    client: TestClient, fake_echo: FakeEcho, database: Engine
) -> None:
    mine = set_up(client, fake_echo, f"owner-{uuid4().hex[:8]}@example.com")
    theirs = set_up(client, fake_echo, f"other-{uuid4().hex[:8]}@example.com")
    (secret_id, value), = mine.values.items()
    templated = {"nodes": [{"id": "t", "type": "manual_trigger", "name": "Start", "config": {}},
                           {"id": "h", "type": "http_request", "name": "Fetch",
                            "config": {"method": "GET", "url": f"{fake_echo.url}/echo", "auth": "none",
                                       "headers": {"X-Key": "{{secrets.Echo token 0}}"}}}],
                 "edges": [{"source": "t", "target": "h"}]}
    by_template = create_workflow(mine.actor, templated, name="Templated")["id"]
    set_wrapped(database, mine.actor.workspace_id, wrapped(database, theirs.actor.workspace_id))
    assert_refused(mine, fake_echo, secret_id, "Echo token 0", plaintexts=[value, *theirs.values.values()])
    assert_api_refuses(mine, [value])
    # A {{secrets.NAME}} template gets the same words.
    run = run_and_wait(mine.actor, by_template)
    assert run["status"] == "failed", run
    assert run["error"] == (f"Node 'Fetch' failed: '{{{{secrets.Echo token 0}}}}': the credential 'Echo token 0' "
                            f"{UNDECRYPTABLE}: its stored value was altered, or the master key does not match. Enter "
                            "its value again (rotate it) in Settings → Secrets & API Keys, or restore the database "
                            "from a backup."), run["error"]
    assert not fake_echo.saw(value)


# -- master-key rotation under load ----------------------------------------------------------------------------

RUNS = 20
DELAY_S = 0.8


def rotate_master_key(settings: Settings) -> tuple[str, int]:
    """What `flowvault keys rotate --new-key` does, from its own engine and key ring (as another process
    would): a new key appended to the key file, every workspace key re-wrapped with it."""

    async def work() -> tuple[str, int]:
        key_id = append_key(settings.resolved_master_key_file)
        engine = make_engine(settings.resolved_database_url)
        try:
            vault = Vault(keyring=KeyRing.from_file(settings.resolved_master_key_file), cache_seconds=0)
            async with make_sessionmaker(engine)() as session:
                return key_id, await vault.rewrap_all(session)
        finally:
            await engine.dispose()

    return asyncio.run(work())


def test_master_key_rotation_while_runs_execute_fails_no_run(settings: Settings, fake_echo: FakeEcho) -> None:
    """20 runs of Manual -> HTTP (bearer) -> Delay -> HTTP (bearer) at once. Once half the runs have made
    their first request (the workspace key wrapped by the old master key), the master key is rotated. No
    run fails, and the echo got the right token all 40 times."""
    busy = settings.model_copy(update={"embedded_workers": RUNS})
    with TestClient(create_app(busy)) as client:
        actor = sign_up(client, f"owner-{uuid4().hex[:8]}@example.com")
        ws = actor.workspace_id
        limits = actor.put(f"/api/v1/workspaces/{ws}/settings/engine",
                           json={"concurrency": RUNS, "egress_allowlist": [fake_echo.host]})
        assert limits.status_code == 200, limits.text
        value = token_value()
        secret_id = secret(actor, "http_bearer", "Echo token", token=value)
        graph = echo_graph(fake_echo, secret_id)
        graph["nodes"] += [
            {"id": "d", "type": "delay", "name": "Wait", "config": {"seconds": DELAY_S}},
            {**graph["nodes"][1], "id": "h2", "name": "Fetch again"},
        ]
        graph["edges"] += [{"source": "h", "target": "d"}, {"source": "d", "target": "h2"}]
        workflow = create_workflow(actor, graph, name="Twice")["id"]
        (old_key,) = KeyRing.from_file(settings.resolved_master_key_file).keys

        run_ids = [queued_run(actor, workflow) for _ in range(RUNS)]
        deadline = time.monotonic() + 20
        while len(fake_echo.requests_to("/echo")) < RUNS // 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        rotation_started = datetime.now(UTC)
        new_key, rewrapped = rotate_master_key(settings)
        rotated_at = datetime.now(UTC)

        finished = [run_and_wait_id(actor, run_id) for run_id in run_ids]
    assert [run["status"] for run in finished] == ["succeeded"] * RUNS, [r["error"] for r in finished]
    assert rewrapped == 1 and new_key != old_key
    received = [r.headers.get("authorization") for r in fake_echo.requests_to("/echo")]
    assert received == [f"Bearer {value}"] * (2 * RUNS)
    assert set(KeyRing.from_file(settings.resolved_master_key_file).keys) == {old_key, new_key}
    for run in finished:
        assert value not in str(run)
    # Control: runs were in flight across the rotation: their first credential came through the old master
    # key, their second through the new one.
    started = {
        run["id"]: {step["node_id"]: datetime.fromisoformat(step["started_at"]) for step in run["steps"]}
        for run in finished
    }
    across = [r for r, steps in started.items() if steps["h"] < rotation_started and steps["h2"] > rotated_at]
    assert across, "no run was in flight across the rotation"


def queued_run(actor: Actor, workflow_id: str) -> str:
    queued = actor.post(f"/api/v1/workspaces/{actor.workspace_id}/workflows/{workflow_id}/runs", json={"input": {}})
    assert queued.status_code == 202, queued.text
    return str(queued.json()["id"])


def run_and_wait_id(actor: Actor, run_id: str, deadline_s: float = 20.0) -> dict[str, Any]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        run: dict[str, Any] = actor.get(f"/api/v1/workspaces/{actor.workspace_id}/runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish within {deadline_s} s")
