"""The permission matrix of every route the application serves (SPEC §1, §11), generated from its route
table: each (method, path) by {anonymous, outsider, viewer, user, admin, owner, other_owner} gets the
status written in ``EXPECTED`` — and a route without an entry fails the suite, naming it, so a new
route cannot ship without someone deciding who may call it.

- anonymous: 401 on every /api/v1 route that is not public;
- outsider (signed in, member of nothing here): 404 for anything of workspace A, real ids or not;
- viewer / user / admin / owner of A: the status their role allows (403 when it does not);
- other_owner (owner of workspace B): calls with *B's* workspace id and *A's* object ids — 404 for any
  route naming an object, and otherwise the owner's answer, given for B (never A's data).

Every answer is checked further: errors are problem+json; no answer ever holds A's secret value; an
outsider's or the other owner's answers hold nothing of A (names, emails); a refused write leaves every
table as it was. ``tests/test_permissions.py`` checks the *effects* of the allowed calls in depth;
this suite makes sure no route is left out.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from argon2 import PasswordHasher

from flowvault.app import create_app
from flowvault.auth import passwords
from flowvault.config import Settings
from flowvault.secrets.keyring import create_key_file
from tests.conftest import BACKENDS, PASSWORD, _truncate_postgres

from .world import (
    API,
    LOGIN_EMAIL,
    MEMBER_ROLES,
    SECRET_VALUE,
    World,
    api_routes,
    build_world,
    settings_for,
)

ROLES = ("anonymous", "outsider", *MEMBER_ROLES, "other_owner")
PROBLEM = "application/problem+json"
PARAM = re.compile(r"{(\w+)}")
Body = Callable[[str], Any]


@dataclass(frozen=True)
class Expect:
    statuses: Mapping[str, int]
    body: Body | None = None
    run: str = "done"
    """Which run ``{run_id}`` names: done, failed (in the dead-letter queue) or queued."""
    optional: bool = False
    """The route may be absent (``/`` is served by the built web app when there is one)."""


def public(status: int, body: Body | None = None, optional: bool = False) -> Expect:
    return Expect({role: status for role in ROLES}, body, optional=optional)


def signed_in(status: int, body: Body | None = None, *, only_owner: bool = False) -> Expect:
    """Any signed-in user (not workspace-scoped); ``only_owner``: A's owner's own object, 404 to others."""
    statuses = {role: (404 if only_owner and role != "owner" else status) for role in ROLES}
    return Expect({**statuses, "anonymous": 401}, body)


EDITORS = ("user", "admin", "owner")
MANAGERS = ("admin", "owner")
EVERY_MEMBER = MEMBER_ROLES


def member(ok: int, allowed: tuple[str, ...], body: Body | None = None, *, denied: int = 403, run: str = "done",
           by_id: bool = False, other: int | None = None) -> Expect:
    """A workspace route: ``ok`` for ``allowed`` member roles, ``denied`` for the other members, 404 for the
    outsider, 401 anonymous. ``by_id``: it names an object of A, so the other owner gets 404 too;
    otherwise the other owner gets the owner's answer (``other`` when it differs) for their own workspace."""
    statuses = {role: (ok if role in allowed else denied) for role in MEMBER_ROLES}
    other_owner = 404 if by_id else (other if other is not None else statuses["owner"])
    return Expect({**statuses, "anonymous": 401, "outsider": 404, "other_owner": other_owner}, body, run)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:8]}"


W = "/api/v1/workspaces/{ws}"
EXPECTED: dict[tuple[str, str], Expect] = {
    # -- public ----------------------------------------------------------------------------------------
    ("GET", "/"): public(200, optional=True),
    ("GET", "/api/v1/health"): public(200),
    ("GET", "/api/v1/credential-types"): public(200),
    ("GET", "/api/v1/node-types"): public(200),
    ("POST", "/api/v1/auth/signup"): public(201, lambda r: {"email": f"{unique(r)}@example.com", "password": PASSWORD}),
    ("POST", "/api/v1/auth/login"): public(200, lambda r: {"email": LOGIN_EMAIL, "password": PASSWORD}),
    ("POST", "/api/v1/auth/logout"): public(204),
    # The webhook token is the credential: whoever holds the URL may start the run (SPEC §6).
    ("POST", "/hooks/{workflow_id}/{token}"): public(202, lambda r: {"from": r}),
    # -- signed in, any workspace --------------------------------------------------------------------
    ("GET", "/api/v1/me"): signed_in(200),
    ("POST", "/api/v1/tokens"): signed_in(201, lambda r: {"name": unique(r)}),
    ("GET", "/api/v1/tokens"): signed_in(200),
    ("DELETE", "/api/v1/tokens/{token_id}"): signed_in(204, only_owner=True),
    ("POST", "/api/v1/workspaces"): signed_in(201, lambda r: {"name": unique(r)}),
    ("GET", "/api/v1/workspaces"): signed_in(200),
    ("GET", "/api/v1/invitations"): signed_in(200),
    # The pending invitation is addressed to someone else: nobody here may answer it, nor learn it exists.
    ("POST", "/api/v1/invitations/{invitation_id}/accept"): signed_in(404),
    ("POST", "/api/v1/invitations/{invitation_id}/decline"): signed_in(404),
    # -- workspace, members, invitations ---------------------------------------------------------------
    ("GET", W): member(200, EVERY_MEMBER),
    ("PATCH", W): member(200, MANAGERS, lambda r: {"name": unique(r)}),
    ("DELETE", W): member(204, ("owner",)),
    ("GET", f"{W}/members"): member(200, EVERY_MEMBER),
    ("PATCH", f"{W}/members/{{user_id}}"): member(200, MANAGERS, lambda r: {"role": "viewer"}, by_id=True),
    ("DELETE", f"{W}/members/{{user_id}}"): member(200, MANAGERS, by_id=True),
    ("POST", f"{W}/leave"): member(200, ("viewer", "user", "admin")),  # the owner cannot leave: 403
    ("POST", f"{W}/invitations"): member(201, MANAGERS, lambda r: {"email": f"{unique(r)}@example.com"}),
    ("GET", f"{W}/invitations"): member(200, MANAGERS),
    ("DELETE", f"{W}/invitations/{{invitation_id}}"): member(204, MANAGERS, by_id=True),
    ("GET", f"{W}/audit"): member(200, EVERY_MEMBER),
    # -- secrets (the owner created the secret: a user may not change it) ----------------------------
    ("POST", f"{W}/secrets"): member(201, EDITORS, lambda r: {
        "type": "http_bearer", "name": unique(r), "fields": {"token": f"matrix-{uuid4().hex}"}}),
    ("GET", f"{W}/secrets"): member(200, EVERY_MEMBER),
    ("GET", f"{W}/secrets/{{secret_id}}"): member(200, EVERY_MEMBER, by_id=True),
    ("PUT", f"{W}/secrets/{{secret_id}}/value"): member(
        200, MANAGERS, lambda r: {"fields": {"token": f"rotated-{uuid4().hex}"}}, by_id=True),
    ("DELETE", f"{W}/secrets/{{secret_id}}"): member(204, MANAGERS, by_id=True),
    # -- workflows ---------------------------------------------------------------------------------
    ("POST", f"{W}/workflows"): member(201, EDITORS, lambda r: {"name": unique(r), "graph": {"nodes": [
        {"id": "t", "type": "manual_trigger", "name": "Start", "config": {}}], "edges": []}}),
    ("GET", f"{W}/workflows"): member(200, EVERY_MEMBER),
    ("GET", f"{W}/workflows/{{workflow_id}}"): member(200, EVERY_MEMBER, by_id=True),
    ("PUT", f"{W}/workflows/{{workflow_id}}"): member(200, EDITORS, lambda r: {"name": unique(r)}, by_id=True),
    ("DELETE", f"{W}/workflows/{{workflow_id}}"): member(204, MANAGERS, by_id=True),
    ("GET", f"{W}/workflows/{{workflow_id}}/export"): member(200, EVERY_MEMBER, by_id=True),
    ("GET", f"{W}/logs/changes"): member(200, EVERY_MEMBER),
    # -- runs, logs, engine ------------------------------------------------------------------------
    ("POST", f"{W}/workflows/{{workflow_id}}/runs"): member(202, EDITORS, lambda r: {"input": {}}, by_id=True),
    ("GET", f"{W}/runs"): member(200, EVERY_MEMBER),
    ("GET", f"{W}/runs/{{run_id}}"): member(200, EVERY_MEMBER, by_id=True),
    ("POST", f"{W}/runs/{{run_id}}/cancel"): member(200, EDITORS, run="queued", by_id=True),
    ("POST", f"{W}/runs/cancel-all"): member(200, MANAGERS),
    ("GET", f"{W}/logs/blocked-egress"): member(200, EVERY_MEMBER),
    ("GET", f"{W}/logs/dead-letter"): member(200, EVERY_MEMBER),
    ("POST", f"{W}/logs/dead-letter/{{run_id}}/requeue"): member(202, EDITORS, run="failed", by_id=True),
    ("DELETE", f"{W}/logs/dead-letter"): member(200, MANAGERS),
    ("DELETE", f"{W}/logs/dead-letter/{{run_id}}"): member(200, MANAGERS, run="failed", by_id=True),
    ("GET", f"{W}/settings/engine"): member(200, EVERY_MEMBER),
    ("PUT", f"{W}/settings/engine"): member(
        200, MANAGERS, lambda r: {"concurrency": 3, "egress_allowlist": ["api.example.com"]}),
    # -- webhooks (the URL holds a credential: viewers may not read it) --------------------------------
    ("GET", f"{W}/workflows/{{workflow_id}}/webhook"): member(200, EDITORS, by_id=True),
    ("POST", f"{W}/workflows/{{workflow_id}}/webhook/regenerate"): member(200, EDITORS, by_id=True),
    ("GET", f"{W}/settings/webhooks"): member(200, EVERY_MEMBER),
    ("PUT", f"{W}/settings/webhooks"): member(200, MANAGERS, lambda r: {"rate_per_s": 2}),
    ("POST", f"{W}/settings/webhooks/signing-key"): member(201, MANAGERS),
}

APP_ROUTES = api_routes(create_app(Settings(data_dir=Path("/nonexistent"), database_url=None)))
ALL_ROUTES = sorted(APP_ROUTES | set(EXPECTED))


# -- the world, once per backend ---------------------------------------------------------------------------------


@dataclass
class Harness:
    world: World
    dirty: bool = False
    fake_ids: dict[str, str] = field(default_factory=dict)

    def prepare(self) -> None:
        """Every test starts from the snapshot: restored when the previous one changed something."""
        if self.dirty:
            self.world.restore()
            self.dirty = False

    def path(self, template: str, role: str, expect: Expect, *, fake: bool = False) -> str:
        ids = self.world.ids

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "ws":
                return self.world.other_ws if role == "other_owner" else self.world.ws
            if fake:
                return self.fake_ids.setdefault(name, str(uuid4()))
            return ids[f"run_id:{expect.run}"] if name == "run_id" else ids[name]

        return PARAM.sub(value, template)

    def call(self, role: str, method: str, path: str, body: Any) -> httpx.Response:
        return self.world.call(role, method, path, body)


@pytest.fixture(scope="module", params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    data_dir = tmp_path_factory.mktemp("matrix") / "data"
    create_key_file(data_dir / "master.key")
    url = None
    if request.param == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), data_dir / "flowvault.db")
    else:
        url = request.getfixturevalue("postgres_migrated")
        _truncate_postgres(url)
    with ExitStack() as stack, pytest.MonkeyPatch.context() as patch:
        # argon2's production cost would make the sign-ups and each log-in slow; this suite is about access.
        patch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        yield Harness(build_world(settings_for(data_dir, url), stack))
    if url is not None:
        _truncate_postgres(url)


# -- the suite ---------------------------------------------------------------------------------------------------


def test_every_route_has_an_expectation() -> None:
    missing = sorted(APP_ROUTES - set(EXPECTED))
    stale = sorted(r for r, e in EXPECTED.items() if r not in APP_ROUTES and not e.optional)
    assert not missing, (
        f"route(s) with no entry in EXPECTED (tests/security/test_route_matrix.py): {missing}. Decide who may call "
        "each one and add it."
    )
    assert not stale, f"EXPECTED lists route(s) the application no longer serves: {stale}. Remove them."


def _assert_problem(response: httpx.Response, status: int) -> None:
    assert response.headers["content-type"].startswith(PROBLEM), response.headers["content-type"]
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"], body


@pytest.mark.parametrize(
    ("route", "role"), [pytest.param(r, role, id=f"{r[0]} {r[1]}-{role}") for r in ALL_ROUTES for role in ROLES]
)
def test_route_matrix(harness: Harness, route: tuple[str, str], role: str) -> None:
    method, template = route
    expect = EXPECTED.get(route)
    assert expect is not None, f"NEW ROUTE {method} {template} has no entry in EXPECTED: decide who may call it"
    if route not in APP_ROUTES:
        if expect.optional:
            return
        pytest.fail(f"{method} {template} is in EXPECTED but the application no longer serves it")
    harness.prepare()
    expected = expect.statuses[role]

    body = expect.body(role) if expect.body else None
    response = harness.call(role, method, harness.path(template, role, expect), body)

    where = f"{method} {template} as {role}"
    assert response.status_code == expected, f"{where}: {response.status_code} {response.text[:300]}"
    if expected >= 400:
        _assert_problem(response, expected)
    assert SECRET_VALUE not in response.text, f"{where}: the secret value is in the answer"
    if role in ("outsider", "other_owner"):
        seen = [name for name in harness.world.a_names if name in response.text]
        assert not seen, f"{where}: the answer shows workspace A's {seen}"
    # Only a request that ran a write statement can have changed a row: then an allowed request is undone
    # before the next test, and a refused one must have changed nothing.
    if harness.world.client.writes:
        harness.dirty = True
        if expected >= 300:
            changed = harness.world.changed_tables()
            assert not changed, f"{where} was refused but changed the table(s) {changed}"


BY_ID = [r for r in ALL_ROUTES if r in APP_ROUTES and set(PARAM.findall(r[1])) - {"ws"} and r[1].startswith(API)]


@pytest.mark.parametrize(
    ("route", "role"),
    [pytest.param(r, role, id=f"{r[0]} {r[1]}-{role}") for r in BY_ID for role in ("outsider", "other_owner")],
)
def test_real_ids_of_another_workspace_answer_exactly_like_made_up_ones(
    harness: Harness, route: tuple[str, str], role: str
) -> None:
    """A non-member cannot tell whether an id exists: the answer to A's real ids is byte for byte the
    answer to made-up ones (the other owner asks inside their own workspace, the outsider inside A's)."""
    method, template = route
    expect = EXPECTED[route]
    harness.prepare()
    body = expect.body(role) if expect.body else None
    real = harness.call(role, method, harness.path(template, role, expect), body)
    made_up = harness.call(role, method, harness.path(template, role, expect, fake=True), body)
    assert real.status_code == made_up.status_code == 404, (real.text, made_up.text)
    assert real.json() == made_up.json()
    assert real.headers["content-type"] == made_up.headers["content-type"]


def test_the_harness_sees_a_write_and_restores_it(harness: Harness) -> None:
    """Control for the refused-write check above: a write that went through is seen, and undone."""
    harness.prepare()
    expect = EXPECTED[("POST", f"{W}/secrets")]
    assert expect.body is not None
    response = harness.call("owner", "POST", harness.path(f"{W}/secrets", "owner", expect), expect.body("owner"))
    assert response.status_code == 201, response.text
    assert any("INSERT INTO sealed_fields" in s for s in harness.world.client.writes)
    assert {"secrets", "sealed_fields", "audit_events"} <= set(harness.world.changed_tables())
    harness.world.restore()
    assert harness.world.changed_tables() == []
    assert not harness.call("viewer", "GET", harness.path(W, "viewer", expect), None).status_code >= 300
    assert harness.world.client.writes == []  # a read writes nothing but the token's last use
