"""API fuzzing with schemathesis over the application's own OpenAPI schema (SPEC §10, §11), authenticated
as a signed-up owner with the workspace id fixed to the owner's workspace, so requests reach the real
handlers rather than stopping at the membership check. Every answer must be: no 5xx, a documented
content type, and a body that matches the documented schema for its status.

SQLite only: the handlers and their validation are the same on both backends, and the fuzzing budget
(a few examples per operation, see ``EXAMPLES``) keeps the whole module to about half a minute.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from argon2 import PasswordHasher
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks as st_checks
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case

from flowvault.app import create_app
from flowvault.auth import passwords
from flowvault.config import Settings
from flowvault.secrets.keyring import create_key_file
from tests.conftest import PASSWORD

from .world import AsgiClient, created, settings_for

EXAMPLES = int(os.environ.get("FLOWVAULT_TEST_FUZZ_EXAMPLES", "10"))
"""Per operation. A deeper hunt: FLOWVAULT_TEST_FUZZ_EXAMPLES=200 .venv/bin/pytest tests/security/test_api_fuzz.py"""
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
]
SCHEMA = schemathesis.openapi.from_dict(create_app(Settings(data_dir=Path("/nonexistent"))).openapi())
OPERATIONS = sorted(
    (op.ok().method.upper(), op.ok().path) for op in SCHEMA.get_all_operations()  # type: ignore[attr-defined]
)


@dataclass
class Target:
    client: AsgiClient
    token: str
    ws: str


@pytest.fixture(scope="module")
def target(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    create_key_file(data_dir / "master.key")
    shutil.copy(sqlite_template, data_dir / "flowvault.db")
    # Queue only, no worker: a fuzzed run stays queued.
    quiet = settings_for(data_dir, None).model_copy(update={"executor": "celery", "redis_url": None})
    with ExitStack() as stack, pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        client = AsgiClient(create_app(quiet), stack)
        signed_up = created(client.request("POST", "/api/v1/auth/signup",
                                           json={"email": "fuzz-owner@example.com", "password": PASSWORD}))
        login = client.request("POST", "/api/v1/auth/login",
                               json={"email": "fuzz-owner@example.com", "password": PASSWORD})
        csrf = login.cookies.get("flowvault_csrf")
        session = login.cookies.get("flowvault_session")
        assert csrf and session, login.text
        client.http.cookies.set("flowvault_session", session)
        made = client.runner.run(client.http.post("/api/v1/tokens", json={"name": "fuzz"},
                                                  headers={"X-CSRF-Token": csrf}))
        client.http.cookies.clear()
        token = created(made)["token"]
        ws = signed_up["workspace"]["id"]
        # Something to find: a secret and a workflow, so lists and lookups have rows to serialise.
        created(client.request("POST", f"/api/v1/workspaces/{ws}/secrets", token=token,
                               json={"type": "http_bearer", "name": "fuzz", "fields": {"token": "fuzz-token-123456"}}))
        created(client.request("POST", f"/api/v1/workspaces/{ws}/workflows", token=token, json={
            "name": "fuzz", "graph": {"nodes": [{"id": "t", "type": "manual_trigger", "name": "Start"}], "edges": []}}))
        yield Target(client, token, ws)


def send(target: Target, case: Case) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    request: dict[str, Any] = {
        "method": kwargs["method"], "url": kwargs["url"], "headers": kwargs.get("headers") or {},
        "params": kwargs.get("params"),
    }
    if "json" in kwargs:
        request["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        request["content"] = kwargs["data"]
    client = target.client
    client.http.cookies.clear()
    for name, value in (kwargs.get("cookies") or {}).items():
        client.http.cookies.set(name, str(value))
    try:
        return client.runner.run(client.http.request(**request))
    finally:
        client.http.cookies.clear()


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("method", "path"), [pytest.param(m, p, id=f"{m} {p}") for m, p in OPERATIONS])
def test_fuzzed_requests_get_no_5xx_and_answers_match_the_schema(target: Target, method: str, path: str) -> None:
    operation = SCHEMA[path][method]
    fixed: dict[str, Any] = {"ws": target.ws} if "{ws}" in path else {}
    auth = {"Authorization": f"Bearer {target.token}"}
    # Valid requests, and requests that break the schema on purpose (wrong types, missing fields, bad values).
    strategy = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed or None, headers=auth) | \
        operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=fixed or None, headers=auth)

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def fuzz(case: Case) -> None:
        response = send(target, case)
        case.validate_response(response, checks=CHECKS)

    fuzz()


REQUEST = httpx.Request("GET", "http://testserver/api/v1/workspaces/w1/secrets")
PROBLEM_BODY = {"type": "about:blank", "status": 404, "title": "Not found", "detail": "No such thing."}


def answer(status: int, body: Any, content_type: str = "application/json") -> httpx.Response:
    response = httpx.Response(status, json=body, headers={"content-type": content_type}, request=REQUEST)
    response.elapsed = timedelta(0)
    return response


@pytest.mark.parametrize(
    ("response", "caught"),
    [
        pytest.param(answer(500, {**PROBLEM_BODY, "status": 500}, "application/problem+json"), "Server error",
                     id="a 5xx"),
        pytest.param(answer(200, {"items": "not a list"}), "Response violates schema", id="a body off the schema"),
        pytest.param(answer(404, {"detail": "no"}), "Undocumented Content-Type", id="an error that is not a problem"),
        pytest.param(answer(404, {**PROBLEM_BODY, "status": "404"}, "application/problem+json"),
                     "Response violates schema", id="a malformed problem"),
    ],
)
def test_the_checks_catch_what_the_fuzzing_looks_for(response: httpx.Response, caught: str) -> None:
    """Controls: each kind of bad answer the fuzzing must catch is caught by the same checks."""
    case = SCHEMA["/api/v1/workspaces/{ws}/secrets"]["GET"].Case(path_parameters={"ws": "w1"})
    case.validate_response(answer(404, PROBLEM_BODY, "application/problem+json"), checks=CHECKS)  # a good one
    with pytest.raises(BaseExceptionGroup) as raised:
        case.validate_response(response, checks=CHECKS)
    assert caught in str(raised.value)
