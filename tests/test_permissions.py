"""The role matrix (SPEC §1-§2): for every secrets and members/invitations route, each of owner,
admin, user, viewer, non-member and anonymous gets exactly the status the spec gives them, and a
refused request changes nothing.

- owner: everything; cannot be removed, cannot leave, their role cannot be changed.
- admin: manages members (invite, change the role of / remove non-owners) and every secret.
- user: creates secrets, rotates/deletes only their own, reads metadata; no member management
  (pending invitations included); can leave.
- viewer: read-only (secret metadata, member list, audit log); every write is 403; can leave.
- non-member: 404 for anything of the workspace (never 403, never data), even with real ids.
- anonymous: 401 (problem+json).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from flowvault.app import create_app
from flowvault.auth import passwords
from flowvault.config import Settings
from flowvault.db.models import Base
from flowvault.secrets.keyring import create_key_file
from tests.conftest import PASSWORD, Actor, _truncate_postgres, join, sign_up

API = "/api/v1"
PROBLEM = "application/problem+json"
WORKSPACE_NAME = "Canary Payments Team"
SECRET_NAME = "canary-stripe-prod"
SECRET_VALUE = "canary-token-123456"
ROTATED_VALUE = "another-value-123456"
MEMBER_ROLES = ("owner", "admin", "user", "viewer")
ROLES = (*MEMBER_ROLES, "outsider", "anonymous")


CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's production cost makes a sign-up take ~100 ms; these tests are about roles, not hashing."""
    monkeypatch.setattr(passwords, "_hasher", CHEAP_HASHER)


def bearer_body(name: str) -> dict[str, Any]:
    return {"type": "http_bearer", "name": name, "fields": {"token": SECRET_VALUE}}


@dataclass
class World:
    client: TestClient
    owner: Actor
    admin: Actor
    user: Actor
    viewer: Actor
    outsider: Actor
    ws: str
    secret_id: str

    def actor(self, role: str) -> Actor:
        found: Actor = getattr(self, role)
        return found

    def call(self, role: str, method: str, path: str, json: Any = None) -> httpx.Response:
        if role == "anonymous":
            self.client.cookies.clear()
            return self.client.request(method, path, json=json)
        return self.actor(role).request(method, path, json=json)

    def add_member(self, email: str, role: str) -> Actor:
        member = sign_up(self.client, email)
        join(self.owner, self.ws, member, role)
        return member

    def create_secret(self, actor: Actor, name: str) -> str:
        created = actor.post(f"{API}/workspaces/{self.ws}/secrets", json=bearer_body(name))
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    def member_roles(self) -> dict[str, str]:
        """user id -> role, as the owner sees the member list."""
        listed = self.owner.get(f"{API}/workspaces/{self.ws}/members")
        assert listed.status_code == 200, listed.text
        return {m["user_id"]: m["role"] for m in listed.json()}

    def secret_version(self, secret_id: str) -> int | None:
        got = self.owner.get(f"{API}/workspaces/{self.ws}/secrets/{secret_id}")
        if got.status_code == 404:
            return None
        assert got.status_code == 200, got.text
        return int(got.json()["version"])

    def pending_invitations(self) -> dict[str, str]:
        """invitation id -> email, as the owner sees them."""
        listed = self.owner.get(f"{API}/workspaces/{self.ws}/invitations")
        assert listed.status_code == 200, listed.text
        return {i["id"]: i["email"] for i in listed.json()}


def _build_world(client: TestClient) -> World:
    """Builds the workspace through the API: the owner creates it and invites the others."""
    owner = sign_up(client, "owner@example.com")
    created = owner.post(f"{API}/workspaces", json={"name": WORKSPACE_NAME})
    assert created.status_code == 201, created.text
    ws = created.json()["id"]
    admin, user, viewer = (sign_up(client, f"{r}@example.com") for r in ("admin", "user", "viewer"))
    for member, role in ((admin, "admin"), (user, "user"), (viewer, "viewer")):
        join(owner, ws, member, role)
    outsider = sign_up(client, "outsider@example.com")
    secret = owner.post(f"{API}/workspaces/{ws}/secrets", json=bearer_body(SECRET_NAME))
    assert secret.status_code == 201, secret.text
    client.cookies.clear()
    return World(client, owner, admin, user, viewer, outsider, ws, secret.json()["id"])


@dataclass(frozen=True)
class Snapshot:
    """The world built once through the API: its master key and database (SQLite files, or the rows
    of every table on PostgreSQL), copied into place before each test so every row starts fresh."""

    data_dir: Path
    world: World
    rows: dict[str, list[dict[str, Any]]]


def _build_snapshot_world(settings: Settings) -> World:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", CHEAP_HASHER)
        with TestClient(create_app(settings)) as client:
            return _build_world(client)


@pytest.fixture(scope="module")
def sqlite_world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    data_dir = tmp_path_factory.mktemp("world") / "data"
    create_key_file(data_dir / "master.key")
    shutil.copy(sqlite_template, data_dir / "flowvault.db")
    settings = Settings(data_dir=data_dir, database_url=None, master_keys=None, master_key_file=None)
    return Snapshot(data_dir, _build_snapshot_world(settings), rows={})


@pytest.fixture(scope="module")
def postgresql_world(postgres_migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    url = postgres_migrated
    data_dir = tmp_path_factory.mktemp("world") / "data"
    create_key_file(data_dir / "master.key")
    _truncate_postgres(url)
    world = _build_snapshot_world(Settings(data_dir=data_dir, database_url=url, master_keys=None, master_key_file=None))
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = {
            table.name: [dict(row) for row in connection.execute(table.select()).mappings()]
            for table in Base.metadata.sorted_tables
        }
    engine.dispose()
    _truncate_postgres(url)
    return Snapshot(data_dir, world, rows)


def _restore_postgres(url: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            if rows[table.name]:
                connection.execute(table.insert(), rows[table.name])
        for table in Base.metadata.sorted_tables:
            for column in table.primary_key.columns:
                sequence = connection.scalar(
                    text("SELECT pg_get_serial_sequence(:table, :column)"),
                    {"table": f'"{table.name}"', "column": column.name},
                )
                if sequence is not None:
                    following = connection.scalar(select(func.coalesce(func.max(column), 0) + 1))
                    connection.execute(
                        text("SELECT setval(:sequence, :value, false)"), {"sequence": sequence, "value": following}
                    )
    engine.dispose()


@pytest.fixture
def settings(settings: Settings, backend: str, request: pytest.FixtureRequest) -> Settings:
    """conftest's settings (fresh, empty database), then the prebuilt world's database and master key put in place."""
    snapshot: Snapshot = request.getfixturevalue(f"{backend}_world")
    shutil.copy(snapshot.data_dir / "master.key", settings.data_dir / "master.key")
    if backend == "sqlite":
        for leftover in settings.data_dir.glob("flowvault.db*"):
            leftover.unlink()
        for source in snapshot.data_dir.glob("flowvault.db*"):
            shutil.copy(source, settings.data_dir / source.name)
    else:
        assert settings.database_url
        _restore_postgres(settings.database_url, snapshot.rows)
    return settings


@pytest.fixture
def world(client: TestClient, backend: str, request: pytest.FixtureRequest) -> Iterator[World]:
    built: World = request.getfixturevalue(f"{backend}_world").world
    actors = {role: replace(built.actor(role), client=client) for role in (*MEMBER_ROLES, "outsider")}
    client.cookies.clear()
    yield World(client, **actors, ws=built.ws, secret_id=built.secret_id)
    client.cookies.clear()


# --- the matrix -------------------------------------------------------------------------------------------------

Check = Callable[[bool, httpx.Response], None]
"""Called after the request with whether the spec allows it: asserts the effect happened, or did not."""


@dataclass(frozen=True)
class Prepared:
    method: str
    path: str
    json: Any = None
    check: Check | None = None


@dataclass(frozen=True)
class Case:
    name: str
    expected: dict[str, int]
    prepare: Callable[[World, str], Prepared]


def statuses(allowed: tuple[str, ...], ok: int) -> dict[str, int]:
    """``ok`` for the allowed member roles, 403 for the other members, 404 non-member, 401 anonymous."""
    table = {role: (ok if role in allowed else 403) for role in MEMBER_ROLES}
    return {**table, "outsider": 404, "anonymous": 401}


EVERY_MEMBER = MEMBER_ROLES
EDITORS = ("owner", "admin", "user")
MANAGERS = ("owner", "admin")
NOBODY: tuple[str, ...] = ()


def _list_secrets(w: World, role: str) -> Prepared:
    def check(allowed: bool, response: httpx.Response) -> None:
        if allowed:
            assert [s["name"] for s in response.json()["items"]] == [SECRET_NAME]

    return Prepared("GET", f"{API}/workspaces/{w.ws}/secrets", check=check)


def _create_secret(w: World, role: str) -> Prepared:
    name = f"created-by-{role}"

    def check(allowed: bool, response: httpx.Response) -> None:
        names = {s["name"] for s in w.owner.get(f"{API}/workspaces/{w.ws}/secrets").json()["items"]}
        assert (name in names) is allowed
        if allowed:
            assert response.json()["created_by"]["id"] == w.actor(role).id

    return Prepared("POST", f"{API}/workspaces/{w.ws}/secrets", bearer_body(name), check)


def _get_secret(w: World, role: str) -> Prepared:
    def check(allowed: bool, response: httpx.Response) -> None:
        if allowed:
            assert response.json()["name"] == SECRET_NAME

    return Prepared("GET", f"{API}/workspaces/{w.ws}/secrets/{w.secret_id}", check=check)


def _rotate_owners_secret(w: World, role: str) -> Prepared:
    def check(allowed: bool, response: httpx.Response) -> None:
        assert w.secret_version(w.secret_id) == (2 if allowed else 1)

    return Prepared(
        "PUT", f"{API}/workspaces/{w.ws}/secrets/{w.secret_id}/value", {"fields": {"token": ROTATED_VALUE}}, check
    )


def _delete_owners_secret(w: World, role: str) -> Prepared:
    def check(allowed: bool, response: httpx.Response) -> None:
        assert (w.secret_version(w.secret_id) is None) is allowed

    return Prepared("DELETE", f"{API}/workspaces/{w.ws}/secrets/{w.secret_id}", check=check)


def _list_members(w: World, role: str) -> Prepared:
    def check(allowed: bool, response: httpx.Response) -> None:
        if allowed:
            listed = {m["user_id"]: m["role"] for m in response.json()}
            assert listed == {w.actor(r).id: r for r in MEMBER_ROLES}

    return Prepared("GET", f"{API}/workspaces/{w.ws}/members", check=check)


def _change_role(w: World, role: str) -> Prepared:
    target = w.add_member("target@example.com", "user")

    def check(allowed: bool, response: httpx.Response) -> None:
        assert w.member_roles()[target.id] == ("viewer" if allowed else "user")

    return Prepared("PATCH", f"{API}/workspaces/{w.ws}/members/{target.id}", {"role": "viewer"}, check)


def _change_owner_role(w: World, role: str) -> Prepared:
    def check(allowed: bool, response: httpx.Response) -> None:
        assert w.member_roles()[w.owner.id] == "owner"

    return Prepared("PATCH", f"{API}/workspaces/{w.ws}/members/{w.owner.id}", {"role": "admin"}, check)


def _promote_self_to_owner(w: World, role: str) -> Prepared:
    self_id = w.actor(role).id if role != "anonymous" else w.admin.id

    def check(allowed: bool, response: httpx.Response) -> None:
        roles = w.member_roles()
        assert [uid for uid, r in roles.items() if r == "owner"] == [w.owner.id]

    return Prepared("PATCH", f"{API}/workspaces/{w.ws}/members/{self_id}", {"role": "owner"}, check)


def _remove_member(w: World, role: str) -> Prepared:
    target = w.add_member("target@example.com", "user")
    targets_secret = w.create_secret(target, "targets-secret")

    def check(allowed: bool, response: httpx.Response) -> None:
        assert (target.id not in w.member_roles()) is allowed
        assert (w.secret_version(targets_secret) is None) is allowed
        if allowed:
            assert response.json() == {"secrets_deleted": 1}

    return Prepared("DELETE", f"{API}/workspaces/{w.ws}/members/{target.id}", check=check)


def _remove_owner(w: World, role: str) -> Prepared:
    def check(allowed: bool, response: httpx.Response) -> None:
        assert w.member_roles()[w.owner.id] == "owner"
        assert w.secret_version(w.secret_id) == 1

    return Prepared("DELETE", f"{API}/workspaces/{w.ws}/members/{w.owner.id}", check=check)


def _leave(w: World, role: str) -> Prepared:
    def check(allowed: bool, response: httpx.Response) -> None:
        members = w.member_roles()
        assert len(members) == (3 if allowed else 4)
        if allowed:
            assert w.actor(role).id not in members
            assert response.json() == {"secrets_deleted": 0}

    return Prepared("POST", f"{API}/workspaces/{w.ws}/leave", check=check)


def _invite(w: World, role: str) -> Prepared:
    email = f"invitee-of-{role}@example.com"

    def check(allowed: bool, response: httpx.Response) -> None:
        assert (email in w.pending_invitations().values()) is allowed

    return Prepared("POST", f"{API}/workspaces/{w.ws}/invitations", {"email": email, "role": "user"}, check)


def _list_invitations(w: World, role: str) -> Prepared:
    invited = w.owner.post(f"{API}/workspaces/{w.ws}/invitations", json={"email": "pending@example.com"})
    assert invited.status_code == 201, invited.text

    def check(allowed: bool, response: httpx.Response) -> None:
        if allowed:
            assert [i["email"] for i in response.json()] == ["pending@example.com"]

    return Prepared("GET", f"{API}/workspaces/{w.ws}/invitations", check=check)


def _revoke_invitation(w: World, role: str) -> Prepared:
    invited = w.owner.post(f"{API}/workspaces/{w.ws}/invitations", json={"email": "pending@example.com"})
    assert invited.status_code == 201, invited.text
    invitation_id = invited.json()["id"]

    def check(allowed: bool, response: httpx.Response) -> None:
        assert (invitation_id not in w.pending_invitations()) is allowed

    return Prepared("DELETE", f"{API}/workspaces/{w.ws}/invitations/{invitation_id}", check=check)


def _audit(w: World, role: str) -> Prepared:
    def check(allowed: bool, response: httpx.Response) -> None:
        if allowed:
            assert "secret.created" in {e["action"] for e in response.json()["items"]}

    return Prepared("GET", f"{API}/workspaces/{w.ws}/audit", check=check)


def _get_workspace(w: World, role: str) -> Prepared:
    def check(allowed: bool, response: httpx.Response) -> None:
        if allowed:
            assert response.json()["name"] == WORKSPACE_NAME
            assert response.json()["role"] == role

    return Prepared("GET", f"{API}/workspaces/{w.ws}", check=check)


def _delete_workspace(w: World, role: str) -> Prepared:
    def check(allowed: bool, response: httpx.Response) -> None:
        status = w.owner.get(f"{API}/workspaces/{w.ws}").status_code
        assert status == (404 if allowed else 200)

    return Prepared("DELETE", f"{API}/workspaces/{w.ws}", check=check)


CASES = [
    Case("secrets.list", statuses(EVERY_MEMBER, 200), _list_secrets),
    Case("secrets.create", statuses(EDITORS, 201), _create_secret),
    Case("secrets.get", statuses(EVERY_MEMBER, 200), _get_secret),
    Case("secrets.rotate_owners", statuses(MANAGERS, 200), _rotate_owners_secret),
    Case("secrets.delete_owners", statuses(MANAGERS, 204), _delete_owners_secret),
    Case("members.list", statuses(EVERY_MEMBER, 200), _list_members),
    Case("members.change_role", statuses(MANAGERS, 200), _change_role),
    Case("members.change_owner_role", statuses(NOBODY, 200), _change_owner_role),
    Case("members.promote_self_to_owner", statuses(NOBODY, 200), _promote_self_to_owner),
    Case("members.remove", statuses(MANAGERS, 200), _remove_member),
    Case("members.remove_owner", statuses(NOBODY, 200), _remove_owner),
    Case("members.leave", statuses(("admin", "user", "viewer"), 200), _leave),
    Case("invitations.create", statuses(MANAGERS, 201), _invite),
    Case("invitations.list", statuses(MANAGERS, 200), _list_invitations),
    Case("invitations.revoke", statuses(MANAGERS, 204), _revoke_invitation),
    # SPEC §1: a viewer is read-only, not blind; §5 lists the audit log among the logs views of the workspace.
    Case("audit.list", statuses(EVERY_MEMBER, 200), _audit),
    Case("workspace.get", statuses(EVERY_MEMBER, 200), _get_workspace),
    Case("workspace.delete", statuses(("owner",), 204), _delete_workspace),
]


def _assert_problem(response: httpx.Response, status: int) -> None:
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]


@pytest.mark.parametrize(
    ("case", "role"),
    [pytest.param(case, role, id=f"{case.name}-{role}") for case in CASES for role in ROLES],
)
def test_role_matrix(world: World, case: Case, role: str) -> None:
    prepared = case.prepare(world, role)
    expected = case.expected[role]

    response = world.call(role, prepared.method, prepared.path, prepared.json)

    assert response.status_code == expected, f"{case.name} as {role}: {response.status_code} {response.text}"
    assert SECRET_VALUE not in response.text
    if expected >= 400:
        _assert_problem(response, expected)
    if role == "outsider":
        assert SECRET_NAME not in response.text
        assert WORKSPACE_NAME not in response.text
        assert world.owner.email not in response.text
    if prepared.check is not None:
        prepared.check(expected < 300, response)


# --- creators and their secrets -----------------------------------------------------------------------------------


def test_user_changes_only_own_secrets_and_admin_changes_any(world: World) -> None:
    base = f"{API}/workspaces/{world.ws}/secrets"
    rotate = {"fields": {"token": ROTATED_VALUE}}
    other_user = world.add_member("other-user@example.com", "user")
    own = world.create_secret(world.user, "users-own")
    others = world.create_secret(other_user, "other-users")

    assert world.user.put(f"{base}/{own}/value", json=rotate).status_code == 200
    assert world.secret_version(own) == 2
    for response in (world.user.put(f"{base}/{others}/value", json=rotate), world.user.delete(f"{base}/{others}")):
        assert response.status_code == 403, response.text
        _assert_problem(response, 403)
    assert world.secret_version(others) == 1
    assert world.user.delete(f"{base}/{own}").status_code == 204
    assert world.secret_version(own) is None

    # The admin manages every secret, including one a user created.
    users_again = world.create_secret(world.user, "users-second")
    assert world.admin.put(f"{base}/{users_again}/value", json=rotate).status_code == 200
    assert world.secret_version(users_again) == 2
    assert world.admin.delete(f"{base}/{users_again}").status_code == 204
    assert world.secret_version(users_again) is None

    # A viewer changes no secret at all.
    response = world.viewer.put(f"{base}/{others}/value", json=rotate)
    assert response.status_code == 403, response.text


def test_outsider_cannot_tell_a_real_workspace_or_secret_from_a_missing_one(world: World) -> None:
    missing_ws = "00000000-0000-0000-0000-000000000000"
    real = world.outsider.get(f"{API}/workspaces/{world.ws}/secrets/{world.secret_id}")
    fake_ws = world.outsider.get(f"{API}/workspaces/{missing_ws}/secrets/{world.secret_id}")
    assert real.status_code == fake_ws.status_code == 404
    assert real.json() == fake_ws.json()
    # Nor may they reach the secret through their own workspace.
    own_ws = world.outsider.get(f"{API}/workspaces/{world.outsider.workspace_id}/secrets/{world.secret_id}")
    assert own_ws.status_code == 404
    assert SECRET_NAME not in own_ws.text


# --- CSRF ---------------------------------------------------------------------------------------------------------


def test_cookie_session_writes_need_the_csrf_header(world: World) -> None:
    client = world.client
    client.cookies.clear()
    logged_in = client.post(f"{API}/auth/login", json={"email": world.user.email, "password": PASSWORD})
    assert logged_in.status_code == 200, logged_in.text
    csrf = client.cookies.get("flowvault_csrf")
    assert csrf
    path = f"{API}/workspaces/{world.ws}/secrets"

    # Reads need no header.
    assert client.get(path).status_code == 200

    missing = client.post(path, json=bearer_body("via-cookie"))
    assert missing.status_code == 403, missing.text
    _assert_problem(missing, 403)
    assert "X-CSRF-Token" in missing.json()["detail"]  # refused for the missing header, not for the role
    wrong = client.post(path, json=bearer_body("via-cookie"), headers={"X-CSRF-Token": csrf[::-1] + "x"})
    assert wrong.status_code == 403, wrong.text
    names = {s["name"] for s in world.owner.get(path).json()["items"]}
    assert "via-cookie" not in names

    ok = client.post(path, json=bearer_body("via-cookie"), headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201, ok.text
    assert ok.json()["created_by"]["id"] == world.user.id

    # Every unsafe method is covered, not only POST.
    created = f"{path}/{ok.json()['id']}"
    no_header_delete = client.delete(created)
    assert no_header_delete.status_code == 403, no_header_delete.text
    assert world.secret_version(ok.json()["id"]) == 1
    assert client.delete(created, headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.clear()


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({"headers": {"Authorization": "Bearer fvt_not-a-real-token"}}, id="unknown-token"),
        pytest.param({"headers": {"Authorization": "Bearer "}}, id="empty-bearer"),
        pytest.param({"cookies": {"flowvault_session": "forged"}}, id="forged-session-cookie"),
    ],
)
def test_bad_credentials_are_401_problem(world: World, credentials: dict[str, dict[str, str]]) -> None:
    world.client.cookies.clear()
    for name, value in credentials.get("cookies", {}).items():
        world.client.cookies.set(name, value)
    response = world.client.get(
        f"{API}/workspaces/{world.ws}/secrets/{world.secret_id}", headers=credentials.get("headers", {})
    )
    assert response.status_code == 401, response.text
    _assert_problem(response, 401)
    assert SECRET_NAME not in response.text
    world.client.cookies.clear()
