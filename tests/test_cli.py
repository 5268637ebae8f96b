"""The ``flowvault`` command line, in process (typer's CliRunner), against the same database as the API
``client`` fixture: once per backend (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from flowvault.bootstrap import open_state
from flowvault.cli import app
from flowvault.config import Settings
from flowvault.secrets import service as secrets_service
from flowvault.secrets.keyring import parse_entries

from .conftest import PASSWORD, Actor

Cli = Callable[..., Result]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def text(result: Result) -> str:
    """Everything the command printed (stdout and stderr), without colour codes and with every run of
    whitespace made one space: rich wraps long lines at the console width."""
    return " ".join(ANSI.sub("", result.output).split())


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Runs ``flowvault ARGS`` configured, like an operator's shell, through FLOWVAULT_* variables."""
    for name in list(os.environ):
        if name.startswith("FLOWVAULT_") and not name.startswith("FLOWVAULT_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FLOWVAULT_DATA_DIR", str(settings.data_dir))
    if settings.database_url is not None:
        monkeypatch.setenv("FLOWVAULT_DATABASE_URL", settings.database_url)
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input)

    return run


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return text(result)


def refused(result: Result) -> str:
    """A refusal: exit code 2 with an error message, never a traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    message = text(result)
    assert "error:" in message
    return message


def resolve(settings: Settings, workspace_id: str, secret_id: str) -> dict[str, str]:
    """The secret's decrypted fields, read in process with the configured master keys."""

    async def work() -> dict[str, str]:
        state = await open_state(settings)
        try:
            async with state.sessions() as session:
                return await secrets_service.resolve(
                    session, vault=state.vault, workspace_id=workspace_id, secret_id=secret_id
                )
        finally:
            await state.engine.dispose()

    return asyncio.run(work())


def secret_args(actor: Actor, *args: str) -> list[str]:
    return [*args, "-w", actor.workspace_id, "--as", actor.email]


def add_secret(cli: Cli, actor: Actor, type_key: str, name: str, fields: dict[str, Any], *extra: str) -> str:
    result = cli(
        *secret_args(actor, "secrets", "add", "--type", type_key, "--name", name, "--stdin", *extra),
        input=json.dumps(fields),
    )
    return created_secret_id(ok(result))


def created_secret_id(message: str) -> str:
    found = re.search(r"created secret (\S+)", message)
    assert found, message
    return found.group(1)


def list_json(cli: Cli, actor: Actor) -> list[dict[str, Any]]:
    result = cli(*secret_args(actor, "secrets", "list", "--json"))
    ok(result)
    items = json.loads(ANSI.sub("", result.stdout))
    assert isinstance(items, list)
    return items


def key_file_ids(settings: Settings) -> list[str]:
    return list(parse_entries(settings.resolved_master_key_file.read_text().splitlines(), "key file"))


# --- user create ------------------------------------------------------------------------------------


def test_user_create_with_password_stdin_can_log_in_through_the_api(cli: Cli, client: TestClient) -> None:
    result = cli("user", "create", "Ops@Example.com", "--password-stdin", input=PASSWORD + "\n")
    message = ok(result)
    assert PASSWORD not in result.output
    found = re.search(r"created user \S+ \((\S+)\) with personal workspace (\S+)", message)
    assert found, message
    user_id, workspace_id = found.groups()

    login = client.post("/api/v1/auth/login", json={"email": "ops@example.com", "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert login.json()["id"] == user_id
    me = client.get("/api/v1/me")
    assert me.status_code == 200, me.text
    assert [(w["id"], w["role"], w["personal"]) for w in me.json()["workspaces"]] == [(workspace_id, "owner", True)]


def test_user_create_with_hidden_prompt_asks_twice(cli: Cli, client: TestClient) -> None:
    result = cli("user", "create", "prompted@example.com", input=f"{PASSWORD}\n{PASSWORD}\n")
    ok(result)
    assert PASSWORD not in result.output
    login = client.post("/api/v1/auth/login", json={"email": "prompted@example.com", "password": PASSWORD})
    assert login.status_code == 200, login.text


@pytest.mark.parametrize("password", ["", "too-short", "123456789"])
def test_user_create_refuses_a_short_password(cli: Cli, client: TestClient, password: str) -> None:
    message = refused(cli("user", "create", "short@example.com", "--password-stdin", input=password + "\n"))
    assert "at least 10 characters" in message
    login = client.post("/api/v1/auth/login", json={"email": "short@example.com", "password": password or "x"})
    assert login.status_code == 401, login.text


def test_user_create_refuses_an_existing_email(cli: Cli, signup: Any) -> None:
    signup("taken@example.com")
    message = refused(cli("user", "create", "taken@example.com", "--password-stdin", input=PASSWORD + "\n"))
    assert "already exists" in message


# --- secrets ----------------------------------------------------------------------------------------


def test_secrets_add_from_stdin_json_seals_the_value(cli: Cli, settings: Settings, signup: Any) -> None:
    alice = signup("alice@example.com")
    value = "stdin-password-value-1"
    result = cli(
        *secret_args(alice, "secrets", "add", "--type", "http_basic", "--name", "prod", "--field", "username=alice"),
        "--stdin",
        input=json.dumps({"password": value}),
    )
    message = ok(result)
    assert value not in result.output
    secret_id = created_secret_id(message)

    detail = alice.get(f"/api/v1/workspaces/{alice.workspace_id}/secrets/{secret_id}")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert (body["type"], body["name"], body["version"]) == ("http_basic", "prod", 1)
    assert body["public_fields"] == {"username": "alice"}
    assert body["created_by"]["email"] == "alice@example.com"
    assert value not in detail.text
    assert resolve(settings, alice.workspace_id, secret_id) == {"username": "alice", "password": value}


def test_secrets_add_prompts_for_secret_fields_without_echo(cli: Cli, settings: Settings, signup: Any) -> None:
    alice = signup("alice@example.com")
    value = "prompted-bearer-token-42"
    result = cli(*secret_args(alice, "secrets", "add", "--type", "http_bearer", "--name", "api"), input=value + "\n")
    message = ok(result)
    assert "token:" in message  # the prompt names the field ...
    assert value not in result.output  # ... and the input is hidden
    secret_id = created_secret_id(message)
    assert resolve(settings, alice.workspace_id, secret_id) == {"token": value}


def test_secrets_add_refuses_a_secret_field_on_the_command_line(cli: Cli, signup: Any) -> None:
    alice = signup("alice@example.com")
    value = "never-on-the-command-line"
    message = refused(
        cli(
            *secret_args(alice, "secrets", "add", "--type", "http_bearer", "--name", "api", "--field", f"token={value}")
        )
    )
    assert "'token' is a secret field" in message
    assert "--stdin" in message
    assert value not in message
    assert list_json(cli, alice) == []


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [
        ('["not", "an", "object"]', "--stdin expects a JSON object"),
        ('{"token": "abc', "--stdin expects a JSON object"),
        ('{"token": "short"}', "'token' is too short"),
        ('{"token": "long-enough-token", "extra": "x"}', "'extra' is not a field"),
    ],
)
def test_secrets_add_refuses_bad_stdin_with_a_message(cli: Cli, signup: Any, stdin: str, expected: str) -> None:
    alice = signup("alice@example.com")
    message = refused(
        cli(*secret_args(alice, "secrets", "add", "--type", "http_bearer", "--name", "x", "--stdin"), input=stdin)
    )
    assert expected in message
    assert list_json(cli, alice) == []


def test_secrets_add_refuses_unknown_type(cli: Cli, signup: Any) -> None:
    alice = signup("alice@example.com")
    message = refused(
        cli(*secret_args(alice, "secrets", "add", "--type", "nope", "--name", "x", "--stdin"), input="{}")
    )
    assert "Unknown credential type 'nope'" in message


def test_secrets_list_json_shows_metadata_only(cli: Cli, signup: Any) -> None:
    alice = signup("alice@example.com")
    assert list_json(cli, alice) == []
    bearer_value, basic_value = "list-bearer-value-1", "list-basic-value-2"
    bearer = add_secret(cli, alice, "http_bearer", "api", {"token": bearer_value})
    basic = add_secret(cli, alice, "http_basic", "prod", {"username": "bob", "password": basic_value})

    result = cli(*secret_args(alice, "secrets", "list", "--json"))
    ok(result)
    assert bearer_value not in result.output
    assert basic_value not in result.output
    items = {item["id"]: item for item in list_json(cli, alice)}
    assert set(items) == {bearer, basic}
    assert items[bearer] == {
        "id": bearer,
        "type": "http_bearer",
        "name": "api",
        "version": 1,
        "created_by": "alice@example.com",
        "used_by_nodes": 0,
        "last_used_at": None,
    }
    assert (items[basic]["type"], items[basic]["name"], items[basic]["version"]) == ("http_basic", "prod", 1)

    only_basic = cli(*secret_args(alice, "secrets", "list", "--json", "--type", "http_basic"))
    ok(only_basic)
    assert [item["id"] for item in json.loads(ANSI.sub("", only_basic.stdout))] == [basic]

    table = cli(*secret_args(alice, "secrets", "list"))
    assert "api" in ok(table)
    assert bearer_value not in table.output


def test_secrets_rotate_from_stdin_bumps_the_version(cli: Cli, settings: Settings, signup: Any) -> None:
    alice = signup("alice@example.com")
    secret_id = add_secret(cli, alice, "http_basic", "prod", {"username": "alice", "password": "first-password-1"})
    new_value = "second-password-2"

    result = cli(
        *secret_args(alice, "secrets", "rotate", secret_id, "--stdin"), input=json.dumps({"password": new_value})
    )
    assert f"rotated secret {secret_id}: now version 2" in ok(result)
    assert new_value not in result.output

    detail = alice.get(f"/api/v1/workspaces/{alice.workspace_id}/secrets/{secret_id}")
    assert detail.status_code == 200, detail.text
    assert detail.json()["version"] == 2
    assert detail.json()["public_fields"] == {"username": "alice"}
    assert resolve(settings, alice.workspace_id, secret_id) == {"username": "alice", "password": new_value}

    prompted = "third-password-3"
    result = cli(
        *secret_args(alice, "secrets", "rotate", secret_id, "--field", "username=carol"), input=prompted + "\n"
    )
    assert "now version 3" in ok(result)
    assert prompted not in result.output
    assert resolve(settings, alice.workspace_id, secret_id) == {"username": "carol", "password": prompted}


def test_secrets_delete(cli: Cli, signup: Any) -> None:
    alice = signup("alice@example.com")
    keep = add_secret(cli, alice, "http_bearer", "keep", {"token": "keep-this-token"})
    gone = add_secret(cli, alice, "http_bearer", "gone", {"token": "delete-this-token"})

    assert f"deleted secret {gone}" in ok(cli(*secret_args(alice, "secrets", "delete", gone)))
    assert alice.get(f"/api/v1/workspaces/{alice.workspace_id}/secrets/{gone}").status_code == 404
    assert alice.get(f"/api/v1/workspaces/{alice.workspace_id}/secrets/{keep}").status_code == 200
    assert [item["id"] for item in list_json(cli, alice)] == [keep]

    again = refused(cli(*secret_args(alice, "secrets", "delete", gone)))
    assert "Secret not found" in again


def test_unknown_workspace_is_refused_with_exit_code_2(cli: Cli, signup: Any) -> None:
    alice = signup("alice@example.com")
    bob = signup("bob@example.com")
    for workspace in ("no-such-workspace", bob.workspace_id):  # missing, and someone else's
        for args in (
            ["secrets", "list"],
            ["secrets", "add", "--type", "http_bearer", "--name", "x", "--stdin"],
            ["secrets", "delete", "some-id"],
        ):
            result = cli(*args, "-w", workspace, "--as", alice.email, input='{"token": "long-enough-token"}')
            assert "Workspace not found, or you are not a member of it." in refused(result), args
    assert list_json(cli, bob) == []


def test_unknown_acting_user_is_refused(cli: Cli, signup: Any) -> None:
    alice = signup("alice@example.com")
    result = cli("secrets", "list", "-w", alice.workspace_id, "--as", "nobody@example.com")
    message = refused(result)
    assert "No user with email nobody@example.com" in message
    assert "flowvault user create" in message


# --- keys and db ------------------------------------------------------------------------------------


def test_keys_status_lists_the_key_id(cli: Cli, settings: Settings, signup: Any) -> None:
    (key_id,) = key_file_ids(settings)
    signup("alice@example.com")
    signup("bob@example.com")
    message = ok(cli("keys", "status"))
    assert re.search(rf"{re.escape(key_id)} │ yes │ 2\b", message), message


def test_keys_rotate_new_key_rewraps_and_secrets_still_decrypt(cli: Cli, settings: Settings, signup: Any) -> None:
    alice = signup("alice@example.com")
    bob = signup("bob@example.com")
    secret_id = add_secret(cli, alice, "http_bearer", "api", {"token": "survives-rotation-1"})
    (old_id,) = key_file_ids(settings)

    message = ok(cli("keys", "rotate", "--new-key"))
    old, new = key_file_ids(settings)
    assert old == old_id
    assert f"added master key {new}" in message
    assert f"re-wrapped 2 workspace key(s) with master key {new}" in message
    assert settings.resolved_master_key_file.stat().st_mode & 0o777 == 0o600

    status = ok(cli("keys", "status"))
    assert re.search(rf"{re.escape(new)} │ yes │ 2\b", status), status
    assert re.search(rf"{re.escape(old)} │ +│ 0\b", status), status
    assert "re-wrapped 0 workspace key(s)" in ok(cli("keys", "rotate"))

    assert resolve(settings, alice.workspace_id, secret_id) == {"token": "survives-rotation-1"}
    assert alice.get(f"/api/v1/workspaces/{alice.workspace_id}/secrets").status_code == 200
    assert list_json(cli, bob) == []


def test_keys_add_is_refused_while_master_keys_come_from_the_environment(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("FLOWVAULT_MASTER_KEYS", settings.resolved_master_key_file.read_text().splitlines()[-1])
    before = settings.resolved_master_key_file.read_text()
    assert "FLOWVAULT_MASTER_KEYS is set" in refused(cli("keys", "add"))
    assert settings.resolved_master_key_file.read_text() == before


def test_db_upgrade_on_an_existing_database(cli: Cli, client: TestClient, signup: Any) -> None:
    alice = signup("alice@example.com")
    assert "database is at the current schema revision" in ok(cli("db", "upgrade"))
    assert "database is at the current schema revision" in ok(cli("db", "upgrade"))
    assert alice.get("/api/v1/me").status_code == 200
    assert client.get("/api/v1/health").status_code == 200


# --- serve ------------------------------------------------------------------------------------------


def test_serve_checks_once_and_hands_its_state_to_the_app(
    cli: Cli, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve`` opens the state (keys, schema, key check) once, before the server starts, and the app's
    first start-up uses it, in the server's own event loop; a later start-up of the same app opens anew."""
    import uvicorn

    import flowvault.app
    import flowvault.cli

    opened: list[Any] = []
    real_open_state = flowvault.cli.open_state

    async def counting_open_state(*args: Any, **kwargs: Any) -> Any:
        state = await real_open_state(*args, **kwargs)
        opened.append(state)
        return state

    monkeypatch.setattr(flowvault.cli, "open_state", counting_open_state)
    monkeypatch.setattr(flowvault.app, "open_state", counting_open_state)
    served: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append((app, options)))

    assert "flowvault is starting on http://127.0.0.1:8765" in ok(cli("serve", "--port", "8765"))
    ((server_app, options),) = served
    assert (options["host"], options["port"], options["ws"]) == ("127.0.0.1", 8765, "none")
    assert len(opened) == 1

    with TestClient(server_app) as client:
        assert server_app.state.flowvault is opened[0]
        signed = client.post("/api/v1/auth/signup", json={"email": "first@example.com", "password": PASSWORD})
        assert signed.status_code == 201, signed.text
    assert len(opened) == 1, "the app's first start-up used the state serve handed over"

    with TestClient(server_app) as client:
        login = client.post("/api/v1/auth/login", json={"email": "first@example.com", "password": PASSWORD})
        assert login.status_code == 200, login.text
    assert len(opened) == 2
