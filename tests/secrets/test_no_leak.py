"""No secret value ever leaves the vault in the clear.

Product rule: a secret field's value, nor its base64 (standard and URL-safe, padded or not, at every
alignment), URL-encoded, JSON-escaped or hex form, ever appears in an API response (body or headers),
in log output, on stdout/stderr, in the bytes of the SQLite database (and its -wal/-shm files), in a
PostgreSQL dump, or in CLI output.

Every check here plants distinctive canaries, scans for every derived form of them, and carries a
positive control (a marker that *must* be found where the canary must not), so that no check can pass
because it looked at nothing. ``derived_forms`` is deliberately independent of the product's redactor.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus
from uuid import uuid4

import httpx
import pytest
import typer
import typer.main
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from flowvault import cli
from flowvault.app import create_app
from flowvault.bootstrap import open_state
from flowvault.config import Settings
from flowvault.secrets import service as secrets_service
from tests.conftest import Actor, join, sign_up

# --------------------------------------------------------------------------------------------------
# Derived forms of a secret value, and a scanner for them
# --------------------------------------------------------------------------------------------------

_RANDOM_CORE = re.compile(r"[0-9a-f]{32}")


def derived_forms(value: str) -> dict[str, str]:
    """Every form of ``value`` that must never appear, mapped to a description of the form.

    Base64 is computed for the value preceded by 0, 1 and 2 bytes (the three alignments it can have
    inside a longer encoded stream), with the characters that depend on the neighbouring bytes trimmed:
    the first 0/2/3 characters (they mix in the preceding bytes) and, when the encoded length is not a
    multiple of three bytes, the last character (it mixes in whatever follows). Padding is stripped, so
    padded and unpadded encodings both contain the form. The 32-hex-digit random core of a canary is a
    form too: finding it means at least part of the value escaped.
    """
    raw = value.encode()
    forms: dict[str, str] = {}

    def add(form: str, how: str) -> None:
        if form:
            forms.setdefault(form, how)

    add(value, "verbatim")
    for core in _RANDOM_CORE.findall(value):
        add(core, "its random core")
    for ensure_ascii in (True, False):
        escaped = json.dumps(value, ensure_ascii=ensure_ascii)[1:-1]
        add(escaped, f"JSON-escaped (ensure_ascii={ensure_ascii})")
        add(escaped.replace("/", "\\/"), f"JSON-escaped with \\/ (ensure_ascii={ensure_ascii})")
    add(quote(value), "URL-encoded (quote)")
    add(quote(value, safe=""), "URL-encoded (quote, safe='')")
    add(quote_plus(value), "URL-encoded (quote_plus)")
    add(quote_plus(value, safe="/"), "URL-encoded (quote_plus, safe='/')")
    add(raw.hex(), "hex")
    add(raw.hex().upper(), "HEX")
    for offset in range(3):
        for alphabet, encode in (("standard", base64.b64encode), ("URL-safe", base64.urlsafe_b64encode)):
            encoded = encode(bytes(offset) + raw).decode().rstrip("=")
            start = (0, 2, 3)[offset]
            end = len(encoded) - (1 if (offset + len(raw)) % 3 else 0)
            add(encoded[start:end], f"base64 {alphabet}, {offset} byte(s) before it")
    return forms


def find_leaks(haystack: str | bytes, secrets: Mapping[str, str]) -> list[str]:
    """Which secrets (by label) appear in ``haystack`` in which form; empty when none does."""
    data = haystack.encode("utf-8", "surrogateescape") if isinstance(haystack, str) else haystack
    return [
        f"{label} ({how})"
        for label, value in secrets.items()
        for form, how in derived_forms(value).items()
        if form.encode() in data
    ]


def assert_no_leak(haystack: str | bytes, secrets: Mapping[str, str], where: str) -> None:
    leaks = find_leaks(haystack, secrets)
    assert not leaks, f"secret values found in {where}: {leaks}"


def canary(label: str) -> str:
    """Plain ASCII, distinctive, long enough for every form to be unambiguous."""
    return f"canary-{label}-{uuid4().hex}"


def fancy_canary(label: str) -> str:
    """Non-ASCII, a quote, a backslash and a slash: JSON escaping and URL encoding both matter."""
    return f'canary-{label}-{uuid4().hex}-Ωé"\\/'


# --------------------------------------------------------------------------------------------------
# The helper itself must catch what it claims to catch
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [fancy_canary("sanity"), canary("sanity"), f"{uuid4().hex}+/?&= x"])
def test_derived_forms_catch_every_encoding(value: str) -> None:
    secrets = {"planted": value}
    raw = value.encode()
    embeddings: list[str | bytes] = [
        f"before {value} after",
        json.dumps({"token": value}),
        json.dumps({"token": value}, ensure_ascii=False),
        json.dumps({"token": value}).replace("/", "\\/"),
        f"https://example.com/?q={quote(value)}&x=1",
        f"https://example.com/?q={quote(value, safe='')}",
        f"a=1&q={quote_plus(value)}",
        f"blob {raw.hex()} end",
        f"blob \\x{raw.hex().upper()} end",
        b"\x00binary\xff" + raw + b"\xfe",
        f"partial: {_RANDOM_CORE.findall(value)[0]}",
    ]
    for before in range(6):
        for after in range(4):
            chunk = os.urandom(before) + raw + os.urandom(after)
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                encoded = encode(chunk).decode()
                embeddings += [f"Basic {encoded}", f"token={encoded.rstrip('=')};"]
    for haystack in embeddings:
        assert find_leaks(haystack, secrets), f"the helper missed the planted value in {haystack!r}"

    harmless = ["nothing here", value[:12], "canary-sanity-", json.dumps({"token": "x" * len(value)})]
    for haystack in harmless:
        assert not find_leaks(haystack, secrets), haystack
    with pytest.raises(AssertionError, match="planted"):
        assert_no_leak(f"... {value} ...", secrets, "a planted string")


# --------------------------------------------------------------------------------------------------
# One run through the secrets API: successful calls and every kind of rejected call
# --------------------------------------------------------------------------------------------------


@dataclass
class ApiRun:
    owner: Actor
    secrets: dict[str, str]
    """label → a secret field value sent to the API; none may come back or be stored."""
    markers: dict[str, str]
    """label → a public value sent alongside; each must come back and be stored (positive controls)."""
    responses: list[httpx.Response] = field(default_factory=list)
    secret_ids: dict[str, str] = field(default_factory=dict)
    live_sealed_fields: int = 0


def transcript(response: httpx.Response) -> bytes:
    head = f"HTTP {response.status_code}\n" + "".join(f"{k}: {v}\n" for k, v in response.headers.multi_items())
    return head.encode() + b"\n" + response.content


def exercise_api(client: TestClient) -> ApiRun:
    """Creates secrets of several types, lists, gets, rotates, deletes, and sends invalid requests that
    carry secret values; records every response."""
    tag = uuid4().hex[:10]
    secrets = {
        "bearer token": fancy_canary("bearer"),
        "basic password": canary("basic"),
        "header value": fancy_canary("header"),
        "slack token": f"xoxb-{uuid4().hex}-canary",
        "ses secret_access_key": f"{uuid4().hex}/+Zq8canary",
        "bearer token v2": fancy_canary("bearer-v2"),
        "basic password v2": canary("basic-v2"),
        "ses secret_access_key v2": f"{uuid4().hex}+/canary",
        "deleted token": canary("deleted"),
    }
    rejected = {  # values only ever sent in requests that must fail
        "short access key id": canary("short-key-id"),
        "missing username": canary("missing-username"),
        "unknown field value": fancy_canary("unknown-field"),
        "unknown field's companion": canary("unknown-field-companion"),
        "wrong type key": fancy_canary("wrong-type"),
        "truncated json": fancy_canary("truncated-json"),
        "unquoted json": canary("unquoted-json"),
        "duplicate name": fancy_canary("duplicate"),
        "fields as string": fancy_canary("fields-string"),
        "name too long": canary("name-too-long"),
        "bad header name": canary("bad-header-name"),
        "form body": fancy_canary("form-body"),
        "text body": fancy_canary("text-body"),
        "rotate unknown field": fancy_canary("rotate-unknown"),
        "rotate wrong value type": canary("rotate-list"),
        "rotate missing secret": canary("rotate-missing"),
        "rotate wrong method": canary("rotate-method"),
        "other workspace": canary("other-ws"),
        "viewer create": canary("viewer"),
        "no credentials": canary("anonymous"),
        "non-string secret": canary("non-string"),
    }
    markers = {
        "bearer name": f"bearer-{tag}",
        "basic username": f"user-{tag}",
        "ses access key id": f"AKIA{uuid4().hex[:16].upper()}",
        "header name": f"X-Api-Key-{tag}",
    }
    owner = sign_up(client, f"owner-{tag}@example.com")
    stranger = sign_up(client, f"stranger-{tag}@example.com")
    viewer = sign_up(client, f"viewer-{tag}@example.com")
    join(owner, owner.workspace_id, viewer, "viewer")
    run = ApiRun(owner=owner, secrets={**secrets, **rejected}, markers=markers)
    base = f"/api/v1/workspaces/{owner.workspace_id}/secrets"

    def call(expected: int, method: str, path: str, actor: Actor | None = owner, **kwargs: Any) -> httpx.Response:
        response = (actor.request if actor else client.request)(method, path, **kwargs)
        assert response.status_code == expected, (method, path, response.status_code, response.text)
        run.responses.append(response)
        return response

    def create(expected: int, body: Any, actor: Actor | None = owner) -> httpx.Response:
        return call(expected, "POST", base, actor, json=body)

    def raw_create(expected: int, content: bytes, content_type: str) -> httpx.Response:
        return call(expected, "POST", base, content=content, headers={"Content-Type": content_type})

    # Valid secrets of several types.
    created = {
        "bearer": {"type": "http_bearer", "name": markers["bearer name"], "fields": {"token": secrets["bearer token"]}},
        "basic": {
            "type": "http_basic",
            "name": f"basic-{tag}",
            "fields": {"username": markers["basic username"], "password": secrets["basic password"]},
        },
        "header": {
            "type": "http_header",
            "name": f"header-{tag}",
            "fields": {"header_name": markers["header name"], "value": secrets["header value"]},
        },
        "slack": {"type": "slack_token", "name": f"slack-{tag}", "fields": {"token": secrets["slack token"]}},
        "ses": {
            "type": "ses_access_key",
            "name": f"ses-{tag}",
            "description": "SES sending key",
            "fields": {
                "access_key_id": markers["ses access key id"],
                "secret_access_key": secrets["ses secret_access_key"],
            },
        },
        "to delete": {"type": "http_bearer", "name": f"gone-{tag}", "fields": {"token": secrets["deleted token"]}},
    }
    for key, body in created.items():
        response = create(201, body)
        assert response.json()["version"] == 1
        run.secret_ids[key] = response.json()["id"]

    # Reads.
    listed = call(200, "GET", base).json()["items"]
    assert len(listed) == len(created)
    call(200, "GET", base, params={"type": "http_bearer"})
    call(200, "GET", base, params={"node_type": "http_request"})
    for secret_id in run.secret_ids.values():
        call(200, "GET", f"{base}/{secret_id}")
    basic = call(200, "GET", f"{base}/{run.secret_ids['basic']}").json()
    assert basic["public_fields"] == {"username": markers["basic username"]}

    # Rotation in place, with new values.
    rotations = {
        "bearer": {"token": secrets["bearer token v2"]},
        "basic": {"password": secrets["basic password v2"]},
        "ses": {"secret_access_key": secrets["ses secret_access_key v2"]},
    }
    for key, fields in rotations.items():
        rotated = call(200, "PUT", f"{base}/{run.secret_ids[key]}/value", json={"fields": fields}).json()
        assert rotated["version"] == 2
        call(200, "GET", f"{base}/{run.secret_ids[key]}")
    call(204, "DELETE", f"{base}/{run.secret_ids.pop('to delete')}")
    run.live_sealed_fields = len(run.secret_ids)  # each of these types has exactly one secret field

    # Rejected requests, each carrying a secret value.
    create(
        422,
        {
            "type": "ses_access_key",
            "name": f"short-{tag}",
            "fields": {"access_key_id": "AKIA123", "secret_access_key": rejected["short access key id"]},
        },
    )
    create(422, {"type": "http_basic", "name": f"nouser-{tag}", "fields": {"password": rejected["missing username"]}})
    create(
        422,
        {
            "type": "http_bearer",
            "name": f"extra-{tag}",
            "fields": {"token": rejected["unknown field's companion"], "extra": rejected["unknown field value"]},
        },
    )
    create(422, {"type": "no_such_type", "name": f"nope-{tag}", "fields": {"token": rejected["wrong type key"]}})
    create(
        422,
        {
            "type": "http_header",
            "name": f"badheader-{tag}",
            "fields": {"header_name": "not a header name", "value": rejected["bad header name"]},
        },
    )
    create(422, {"type": "http_bearer", "name": f"nonstr-{tag}", "fields": {"token": [rejected["non-string secret"]]}})
    create(422, {"type": "http_bearer", "name": f"str-{tag}", "fields": rejected["fields as string"]})
    create(422, {"type": "http_bearer", "name": "n" * 201, "fields": {"token": rejected["name too long"]}})
    create(
        409, {"type": "http_bearer", "name": markers["bearer name"], "fields": {"token": rejected["duplicate name"]}}
    )
    truncated = json.dumps({"type": "http_bearer", "name": f"t-{tag}", "fields": {"token": rejected["truncated json"]}})
    raw_create(422, truncated[:-2].encode(), "application/json")
    raw_create(
        422,
        f'{{"type": "http_bearer", "name": "u-{tag}", "fields": {{"token": {rejected["unquoted json"]}}}}}'.encode(),
        "application/json",
    )
    raw_create(
        422,
        f"type=http_bearer&name=f-{tag}&token={quote_plus(rejected['form body'])}".encode(),
        "application/x-www-form-urlencoded",
    )
    raw_create(422, rejected["text body"].encode(), "text/plain")
    create(
        404, {"type": "http_bearer", "name": f"ws-{tag}", "fields": {"token": rejected["other workspace"]}}, stranger
    )
    create(
        403, {"type": "http_bearer", "name": f"viewer-{tag}", "fields": {"token": rejected["viewer create"]}}, viewer
    )
    create(401, {"type": "http_bearer", "name": f"anon-{tag}", "fields": {"token": rejected["no credentials"]}}, None)
    bearer_path = f"{base}/{run.secret_ids['bearer']}"
    call(422, "PUT", f"{bearer_path}/value", json={"fields": {"token_typo": rejected["rotate unknown field"]}})
    call(422, "PUT", f"{bearer_path}/value", json={"fields": {"token": {"v": rejected["rotate wrong value type"]}}})
    call(404, "PUT", f"{base}/{uuid4()}/value", json={"fields": {"token": rejected["rotate missing secret"]}})
    call(405, "PUT", bearer_path, json={"fields": {"token": rejected["rotate wrong method"]}})

    # Nothing of the rejected calls changed anything; the audit log is a response too.
    assert len(call(200, "GET", base).json()["items"]) == len(run.secret_ids)
    call(200, "GET", f"/api/v1/workspaces/{owner.workspace_id}/audit")
    call(200, "GET", "/api/v1/credential-types")
    return run


def sqlite_files(settings: Settings) -> Iterator[Path]:
    db = settings.data_dir / "flowvault.db"
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if path.exists():
            yield path


def storage_bytes(settings: Settings) -> bytes | None:
    """The raw bytes the database holds: the SQLite files, or a pg_dump. None when pg_dump is unavailable."""
    if settings.is_sqlite:
        return b"".join(path.read_bytes() for path in sqlite_files(settings))
    pg_bin = os.environ.get("FLOWVAULT_TEST_PG_BIN")
    if not pg_bin:
        return None
    assert settings.database_url
    libpq_url = make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run(
        [str(Path(pg_bin) / "pg_dump"), "--no-owner", "--dbname", libpq_url],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert dump.returncode == 0, dump.stderr.decode(errors="replace")
    # bytea values are dumped hex-escaped; decoded too, so a form stored in a bytea column is seen as itself.
    decoded = [bytes.fromhex(m.decode()) for m in _BYTEA.findall(dump.stdout)]
    return dump.stdout + b"\n" + b"\n".join(decoded)


_BYTEA = re.compile(rb"\\\\x((?:[0-9a-fA-F]{2})+)")


def pg_copy_rows(dump: bytes, table: str) -> list[bytes]:
    """The data lines of ``table`` in a plain-format pg_dump."""
    lines = dump.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"COPY public.{table} ".encode()))
    end = lines.index(b"\\.", start)
    return lines[start + 1 : end]


# --------------------------------------------------------------------------------------------------
# API responses, logs and console output
# --------------------------------------------------------------------------------------------------


def test_api_responses_never_carry_secret_values(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        run = exercise_api(client)

    everything = b"\n".join(transcript(r) for r in run.responses)
    # Controls: the public values sent alongside the secrets do come back, so the scan sees real bodies.
    for label, marker in run.markers.items():
        assert marker.encode() in everything, f"control {label} missing from the responses"
    assert find_leaks(everything + run.secrets["bearer token"].encode(), run.secrets)

    for response in run.responses:
        request = response.request
        assert_no_leak(transcript(response), run.secrets, f"the response to {request.method} {request.url.path}")
    rejected = [r for r in run.responses if r.status_code >= 400]
    assert len(rejected) >= 20
    for response in rejected:
        assert response.headers["content-type"].startswith("application/problem+json"), response.text
        assert "input" not in response.json(), response.text


def test_logs_and_console_never_carry_secret_values(
    settings: Settings, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    # Everything at DEBUG: the root logger and every logger that sets its own level (SQLAlchemy does).
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")

    with TestClient(create_app(settings)) as client:
        run = exercise_api(client)
        # Controls: a planted log record and planted console output are captured and found.
        log_control, out_control, fd_control = canary("log-control"), canary("stdout-control"), canary("fd-control")
        logging.getLogger("flowvault.secrets.service").debug("control %s", log_control)
        print(out_control)
        os.write(2, fd_control.encode() + b"\n")

    records = caplog.records
    logged = caplog.text + "\n".join(repr(vars(record)) for record in records)
    console = capfd.readouterr()
    controls = {"log": log_control, "stdout": out_control, "stderr": fd_control}
    assert find_leaks(logged, controls) and find_leaks(console.out + console.err, controls)
    # DEBUG really reached the database layer (SQL statements are logged), so the scan covers it.
    assert any(record.name.startswith("sqlalchemy.engine") for record in records)
    assert any("sealed_fields" in record.getMessage() for record in records)

    assert_no_leak(logged, run.secrets, "the log records")
    assert_no_leak(console.out, run.secrets, "stdout")
    assert_no_leak(console.err, run.secrets, "stderr")


# --------------------------------------------------------------------------------------------------
# What the database holds
# --------------------------------------------------------------------------------------------------


def test_database_never_holds_plaintext(settings: Settings, backend: str) -> None:
    if backend == "postgresql" and not os.environ.get("FLOWVAULT_TEST_PG_BIN"):
        pytest.skip("FLOWVAULT_TEST_PG_BIN is unset: no pg_dump to dump the PostgreSQL database with")
    with TestClient(create_app(settings)) as client:
        run = exercise_api(client)

    stored = storage_bytes(settings)
    assert stored is not None
    # Controls: the public values are stored, and the ciphertext is there to be scanned.
    for label, marker in run.markers.items():
        assert marker.encode() in stored, f"control {label} missing from the stored bytes"
    if backend == "sqlite":
        assert [p.name for p in sqlite_files(settings)] == ["flowvault.db"], "the WAL was not checkpointed on close"
        uri = f"file:{settings.data_dir / 'flowvault.db'}?mode=ro"
        with sqlite3.connect(uri, uri=True) as connection:
            blobs = [row[0] for row in connection.execute("SELECT ciphertext FROM sealed_fields")]
        connection.close()
        assert len(blobs) == run.live_sealed_fields
        assert all(blob in stored for blob in blobs), "a ciphertext is not in the raw file bytes"
    else:
        rows = pg_copy_rows(stored, "sealed_fields")
        assert len(rows) == run.live_sealed_fields
        assert all(b"\\\\x01" in row for row in rows), rows  # bytea, hex-escaped: format byte 0x01 first
    assert_no_leak(stored, run.secrets, "the database" if backend == "sqlite" else "the PostgreSQL dump")


# --------------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Points the CLI's ``Settings()`` at the test database and key file."""
    for name in list(os.environ):
        if name.upper().startswith("FLOWVAULT_") and not name.upper().startswith("FLOWVAULT_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FLOWVAULT_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("FLOWVAULT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return settings


def cli_transcript(result: Any) -> str:
    parts = [result.output, result.stdout, result.stderr]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        parts.append("".join(traceback.format_exception(result.exception)))
    return "\n".join(parts)


def squash(text: str) -> str:
    return " ".join(text.split())


async def resolve(settings: Settings, workspace_id: str, secret_id: str) -> dict[str, str]:
    state = await open_state(settings)
    try:
        async with state.sessions() as session:
            return await secrets_service.resolve(
                session, vault=state.vault, workspace_id=workspace_id, secret_id=secret_id
            )
    finally:
        await state.engine.dispose()


def test_cli_never_prints_secret_values(cli_env: Settings, signup: Any) -> None:
    actor = signup(f"cli-{uuid4().hex[:8]}@example.com")
    runner = CliRunner()
    who = ["--workspace", actor.workspace_id, "--as", actor.email]
    secrets = {"token": fancy_canary("cli-token"), "rotated": canary("cli-rotated"), "ses": f"{uuid4().hex}/+cli"}
    name, key_id = f"cli-{uuid4().hex[:8]}", f"AKIA{uuid4().hex[:16].upper()}"
    outputs: list[str] = []

    def invoke(args: list[str], stdin: str | None = None, exit_code: int = 0) -> str:
        """Runs the CLI; ``exit_code`` -1 means any failure."""
        result = runner.invoke(cli.app, args, input=stdin)
        text = cli_transcript(result)
        outputs.append(text)
        assert result.exit_code == exit_code or (exit_code == -1 and result.exit_code != 0), text
        return str(result.stdout)

    added = invoke(
        ["secrets", "add", *who, "--type", "http_bearer", "--name", name, "--stdin"],
        json.dumps({"token": secrets["token"]}),
    )
    match = re.search(r"created secret ([0-9a-f-]{36})", added)
    assert match, added
    secret_id = match.group(1)
    invoke(
        [
            "secrets",
            "add",
            *who,
            "--type",
            "ses_access_key",
            "--name",
            f"{name}-ses",
            "--field",
            f"access_key_id={key_id}",
            "--stdin",
        ],
        json.dumps({"secret_access_key": secrets["ses"]}),
    )
    listed = invoke(["secrets", "list", *who, "--json"])
    assert name in listed  # control: the listing is real
    assert {item["name"] for item in json.loads(listed)} == {name, f"{name}-ses"}
    invoke(["secrets", "list", *who])
    # Control: stdin really carried the canary into the vault.
    assert asyncio.run(resolve(cli_env, actor.workspace_id, secret_id)) == {"token": secrets["token"]}
    rotated = invoke(["secrets", "rotate", secret_id, *who, "--stdin"], json.dumps({"token": secrets["rotated"]}))
    assert "now version 2" in rotated
    assert asyncio.run(resolve(cli_env, actor.workspace_id, secret_id)) == {"token": secrets["rotated"]}
    # Rejected: a too-short companion field, an unknown field, a duplicate name, stdin that is not JSON.
    rejected = {
        "short key id": canary("cli-short-key-id"),
        "unknown field": canary("cli-unknown"),
        "duplicate": canary("cli-duplicate"),
        "raw stdin": canary("cli-raw-stdin"),
    }
    invoke(
        [
            "secrets",
            "add",
            *who,
            "--type",
            "ses_access_key",
            "--name",
            "x",
            "--field",
            "access_key_id=AKIA1",
            "--stdin",
        ],
        json.dumps({"secret_access_key": rejected["short key id"]}),
        exit_code=2,
    )
    invoke(
        ["secrets", "add", *who, "--type", "http_bearer", "--name", "y", "--stdin"],
        json.dumps({"token": secrets["token"], "extra": rejected["unknown field"]}),
        exit_code=2,
    )
    invoke(
        ["secrets", "add", *who, "--type", "http_bearer", "--name", name, "--stdin"],
        json.dumps({"token": rejected["duplicate"]}),
        exit_code=2,
    )
    invoke(["secrets", "add", *who, "--type", "http_bearer", "--name", "z", "--stdin"], rejected["raw stdin"], -1)

    everything = "\n".join(outputs)
    assert find_leaks(everything + secrets["ses"], secrets)
    assert_no_leak(everything, {**secrets, **rejected}, "the CLI output")
    stored = storage_bytes(cli_env)
    if stored is not None:
        assert name.encode() in stored and key_id.encode() in stored
        assert_no_leak(stored, {**secrets, **rejected}, "the database after CLI use")


@pytest.mark.parametrize(
    ("type_key", "field_name"),
    [("http_bearer", "token"), ("ses_access_key", "secret_access_key"), ("http_basic", "password")],
)
def test_cli_refuses_a_secret_field_on_the_command_line(
    cli_env: Settings, signup: Any, type_key: str, field_name: str
) -> None:
    actor = signup(f"cli-{uuid4().hex[:8]}@example.com")
    value = fancy_canary("argv")
    result = CliRunner().invoke(
        cli.app,
        [
            "secrets",
            "add",
            "--workspace",
            actor.workspace_id,
            "--as",
            actor.email,
            "--type",
            type_key,
            "--name",
            "argv",
            "--field",
            f"{field_name}={value}",
            "--stdin",
        ],
        input="{}",
    )
    text = cli_transcript(result)
    assert result.exit_code == 2, text
    assert f"'{field_name}' is a secret field" in squash(text) and "--stdin" in squash(text), text
    assert_no_leak(text, {"argv value": value}, "the refusal")
    listed = CliRunner().invoke(
        cli.app, ["secrets", "list", "--workspace", actor.workspace_id, "--as", actor.email, "--json"]
    )
    assert json.loads(listed.stdout) == []


def test_cli_does_not_echo_a_field_argument_without_a_name(cli_env: Settings, signup: Any) -> None:
    """``--field <value>`` (the ``NAME=`` forgotten) is refused without repeating the value."""
    actor = signup(f"cli-{uuid4().hex[:8]}@example.com")
    value = canary("no-name")
    result = CliRunner().invoke(
        cli.app,
        [
            "secrets",
            "add",
            "--workspace",
            actor.workspace_id,
            "--as",
            actor.email,
            "--type",
            "http_bearer",
            "--name",
            "argv",
            "--field",
            value,
            "--stdin",
        ],
        input="{}",
    )
    text = cli_transcript(result)
    assert result.exit_code == 2, text
    assert "NAME=VALUE" in squash(text), text
    assert_no_leak(text, {"argument": value}, "the refusal")


class _DatabaseDown(RuntimeError):
    pass


def test_cli_crash_report_shows_no_local_values(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """An unexpected failure after the values were read (here: the database is unreachable) crashes
    ``secrets add`` with a traceback; the report the user sees must not print local variables, because
    the command's frames hold the field values read from stdin."""
    value = canary("crash")

    def database_down(*_args: Any, **_kwargs: Any) -> Any:
        raise _DatabaseDown("the database is unreachable")

    monkeypatch.setattr(cli, "_state", database_down)
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps({"token": value})))
    monkeypatch.delenv("TYPER_STANDARD_TRACEBACK", raising=False)
    monkeypatch.delenv("_TYPER_STANDARD_TRACEBACK", raising=False)
    args = ["secrets", "add", "-w", "ws", "--as", "a@example.com", "--type", "http_bearer", "--name", "n", "--stdin"]
    with pytest.raises(_DatabaseDown) as raised:
        cli.app(args, standalone_mode=True)
    capfd.readouterr()
    typer.main.except_hook(raised.type, raised.value, raised.tb)
    report = capfd.readouterr()
    assert "_DatabaseDown" in report.err  # control: the report was rendered
    assert_no_leak(report.out + report.err, {"stdin value": value}, "the crash report")
    assert cli.app.pretty_exceptions_show_locals is False

    # Control: with locals shown, the very same report would leak.
    config = getattr(raised.value, typer.main._typer_developer_exception_attr_name)
    monkeypatch.setattr(config, "pretty_exceptions_show_locals", True)
    typer.main.except_hook(raised.type, raised.value, raised.tb)
    assert find_leaks(capfd.readouterr().err, {"stdin value": value})
