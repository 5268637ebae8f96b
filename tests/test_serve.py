"""``flowvault serve`` as real processes on the embedded SQLite default: first start, refusal to start
with the wrong master keys, and online master-key rotation while a server keeps serving."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from flowvault.bootstrap import open_state
from flowvault.config import Settings
from flowvault.secrets import service as secrets_service
from flowvault.secrets.keyring import parse_entries

FLOWVAULT = Path(sys.executable).with_name("flowvault")
START_DEADLINE = 20.0
STOP_DEADLINE = 15.0
COMMAND_TIMEOUT = 60.0
PASSWORD = "correct horse battery"
SECRET_FIELDS = {"password", "token", "value", "api_key"}


def normalized(output: str) -> str:
    """Output with every run of whitespace made one space (rich wraps long lines at the console width)."""
    return " ".join(output.split())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def accepts_connections(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any FLOWVAULT_* setting, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWVAULT_")}
    # COLUMNS: rich would otherwise fold a long path in an error message at 80 columns.
    env.update(FLOWVAULT_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", NO_COLOR="1", COLUMNS="400")
    env.update(extra)
    return env


def key_entries(path: Path) -> dict[str, bytes]:
    return parse_entries(path.read_text().splitlines(), str(path))


def entry(key_id: str, key: bytes) -> str:
    return f"{key_id}:{base64.urlsafe_b64encode(key).decode()}"


@dataclass
class Server:
    """One ``flowvault serve`` process; its stdout and stderr go to a log file."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> Server:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(FLOWVAULT), "serve", "--port", str(self.port)],
            env=self.env,
            cwd=self.log_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, deadline: float = START_DEADLINE) -> None:
        assert self.proc is not None
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                pytest.fail(f"flowvault serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                response = httpx.get(f"{self.url}/api/v1/health", timeout=1.0)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "ok"
            return
        pytest.fail(f"flowvault serve did not answer /api/v1/health within {deadline}s:\n{self.output()}")

    def stop(self) -> int | None:
        """SIGTERM, then wait; SIGKILL if it does not stop in time. Safe to call twice."""
        returncode = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=STOP_DEADLINE)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=STOP_DEADLINE)
            returncode = self.proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return returncode


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Every server a test starts is stopped (by its own PID) when the test ends, whatever happens."""
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in started:
            server.stop()


def serve(servers: list[Server], env: dict[str, str], log_path: Path) -> Server:
    server = Server(env=env, log_path=log_path)
    servers.append(server)
    return server.start()


def stop_cleanly(server: Server) -> None:
    returncode = server.stop()
    # uvicorn exits 0 after a graceful shutdown; -15 if SIGTERM came before it installed its handlers.
    assert returncode in (0, -signal.SIGTERM), (returncode, server.output())


def flowvault(env: dict[str, str], *args: str, cwd: Path) -> str:
    """Runs a ``flowvault`` command to completion; returns its output (stdout and stderr)."""
    done = subprocess.run(
        [str(FLOWVAULT), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
    return done.stdout + done.stderr


class Browser:
    """An httpx client using a cookie session the way the web app does (CSRF header on changes)."""

    def __init__(self, url: str, email: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=10.0)
        response = self.client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
        assert response.status_code == 201, response.text
        self.workspace_id: str = response.json()["workspace"]["id"]

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-CSRF-Token": self.client.cookies["flowvault_csrf"]}
        return self.client.request(method, f"/api/v1/workspaces/{self.workspace_id}{path}", headers=headers, **kwargs)

    def create_secret(self, type_key: str, name: str, fields: dict[str, str]) -> str:
        response = self.request("POST", "/secrets", json={"type": type_key, "name": name, "fields": fields})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def rotate_secret(self, secret_id: str, fields: dict[str, str]) -> int:
        response = self.request("PUT", f"/secrets/{secret_id}/value", json={"fields": fields})
        assert response.status_code == 200, response.text
        return int(response.json()["version"])

    def use(self, url: str) -> None:
        """Talk to another server process (same database, same session cookie)."""
        self.client.base_url = httpx.URL(url)

    def close(self) -> None:
        self.client.close()


def resolve_all(settings: Settings, expected: dict[tuple[str, str], dict[str, str]]) -> dict[tuple[str, str], Any]:
    """Decrypts every (workspace id, secret id) in process."""

    async def work() -> dict[tuple[str, str], Any]:
        state = await open_state(settings)
        try:
            found: dict[tuple[str, str], Any] = {}
            async with state.sessions() as session:
                for workspace_id, secret_id in expected:
                    found[workspace_id, secret_id] = await secrets_service.resolve(
                        session, vault=state.vault, workspace_id=workspace_id, secret_id=secret_id
                    )
            return found
        finally:
            await state.engine.dispose()

    return asyncio.run(work())


# --- first start --------------------------------------------------------------------------------------


def test_first_start_creates_a_private_key_file_warns_and_serves(tmp_path: Path, servers: list[Server]) -> None:
    data_dir = tmp_path / "data"
    key_file = data_dir / "master.key"
    env = base_env(data_dir)

    first = serve(servers, env, tmp_path / "first.log")
    first.wait_healthy()
    assert key_file.exists()
    assert key_file.stat().st_mode & 0o777 == 0o600
    (key_id,) = key_entries(key_file)
    assert (data_dir / "flowvault.db").exists()
    stop_cleanly(first)
    log = normalized(first.output())
    assert f"WARNING: created a new master key file at {key_file}" in log
    assert "Back it up now and keep it apart from the database" in log
    assert base64.urlsafe_b64encode(key_entries(key_file)[key_id]).decode().rstrip("=") not in first.output()

    # A second start reuses the key file silently.
    contents = key_file.read_bytes()
    second = serve(servers, env, tmp_path / "second.log")
    second.wait_healthy()
    stop_cleanly(second)
    assert key_file.read_bytes() == contents
    assert "WARNING" not in second.output()


# --- wrong master keys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Populated:
    data_dir: Path
    key_id: str
    key: bytes


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Populated]:
    """A data dir whose database holds a workspace key, written by a server that has since stopped."""
    root = tmp_path_factory.mktemp("populated")
    data_dir = root / "data"
    server = Server(env=base_env(data_dir), log_path=root / "server.log")
    try:
        server.start().wait_healthy()
        browser = Browser(server.url, "owner@example.com")
        browser.create_secret("http_bearer", "api", {"token": "a-token-for-the-record"})
        browser.close()
    finally:
        server.stop()
    ((key_id, key),) = key_entries(data_dir / "master.key").items()
    yield Populated(data_dir=data_dir, key_id=key_id, key=key)


WRONG_KEYS = {
    "same id, other key": lambda p: {"FLOWVAULT_MASTER_KEYS": entry(p.key_id, os.urandom(32))},
    "other id": lambda p: {"FLOWVAULT_MASTER_KEYS": entry("mk-someone-else", os.urandom(32))},
    "other ids, right key under another id": lambda p: {
        "FLOWVAULT_MASTER_KEYS": f"{entry('mk-older', os.urandom(32))},{entry('mk-renamed', p.key)}"
    },
    "key file with same id, other key": lambda p: {"FLOWVAULT_MASTER_KEY_FILE": "wrong.key"},
}
EXPECTED = {
    "same id, other key": ["1 stored workspace key(s) cannot be unwrapped", "(FLOWVAULT_MASTER_KEYS)"],
    "other id": ["(FLOWVAULT_MASTER_KEYS) do not include key id(s) {key_id}"],
    "other ids, right key under another id": ["(FLOWVAULT_MASTER_KEYS) do not include key id(s) {key_id}"],
    "key file with same id, other key": ["1 stored workspace key(s) cannot be unwrapped", "wrong.key"],
}


@pytest.mark.parametrize("case", list(WRONG_KEYS))
def test_wrong_master_key_refuses_to_start_and_never_listens(
    case: str, populated: Populated, tmp_path: Path, servers: list[Server]
) -> None:
    extra = WRONG_KEYS[case](populated)
    if "FLOWVAULT_MASTER_KEY_FILE" in extra:
        wrong = tmp_path / extra["FLOWVAULT_MASTER_KEY_FILE"]
        wrong.write_text(entry(populated.key_id, os.urandom(32)) + "\n")
        wrong.chmod(0o600)
        extra["FLOWVAULT_MASTER_KEY_FILE"] = str(wrong)
    server = serve(servers, base_env(populated.data_dir, **extra), tmp_path / "refused.log")
    assert server.proc is not None

    end = time.monotonic() + START_DEADLINE
    while server.proc.poll() is None and time.monotonic() < end:
        assert not accepts_connections(server.port), "a server with the wrong master key accepted a connection"
        time.sleep(0.05)
    assert server.proc.poll() is not None, f"still running after {START_DEADLINE}s:\n{server.output()}"
    assert not accepts_connections(server.port)
    returncode = server.stop()
    output = normalized(server.output())
    assert returncode == 2, (returncode, output)
    for expected in EXPECTED[case]:
        assert expected.format(key_id=populated.key_id) in output, output
    assert "refusing to start" in output
    assert "Traceback" not in output
    assert "Uvicorn running" not in output


def test_right_master_key_from_the_environment_starts(
    populated: Populated, tmp_path: Path, servers: list[Server]
) -> None:
    """The control for the refusals above: the same data dir with its own key in the environment."""
    env = base_env(populated.data_dir, FLOWVAULT_MASTER_KEYS=entry(populated.key_id, populated.key))
    server = serve(servers, env, tmp_path / "right.log")
    server.wait_healthy()
    stop_cleanly(server)


# --- online master key rotation -------------------------------------------------------------------------


def test_online_master_key_rotation(tmp_path: Path, servers: list[Server]) -> None:
    data_dir = tmp_path / "data"
    key_file = data_dir / "master.key"
    # No workspace key cache in the server: every request unwraps from the database, so the requests
    # after the rotation really need the new master key, read from the key file by the running server.
    env = base_env(data_dir, FLOWVAULT_WORKSPACE_KEY_CACHE_SECONDS="0")
    values: dict[tuple[str, str], dict[str, str]] = {}

    server = serve(servers, env, tmp_path / "server.log")
    server.wait_healthy()
    browsers: list[Browser] = []
    try:
        alice = Browser(server.url, "alice@example.com")
        bob = Browser(server.url, "bob@example.com")
        browsers += [alice, bob]
        for browser, type_key, name, fields in [
            (alice, "http_basic", "prod", {"username": "alice", "password": "alice-prod-password-1"}),
            (alice, "http_bearer", "api", {"token": "alice-api-token-1"}),
            (bob, "http_header", "hook", {"header_name": "X-API-Key", "value": "bob-header-value-1"}),
        ]:
            values[browser.workspace_id, browser.create_secret(type_key, name, fields)] = fields
        (old_id,) = key_entries(key_file)

        output = normalized(flowvault(env, "keys", "rotate", "--new-key", cwd=tmp_path))
        old, new = key_entries(key_file)
        assert old == old_id
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert f"added master key {new}" in output
        assert f"re-wrapped 2 workspace key(s) with master key {new}" in output

        # The same running server: a new workspace signed up (before any request needs the new key), a
        # value rotated, secrets created.
        carol = Browser(server.url, "carol@example.com")
        browsers.append(carol)
        (api_id,) = [sid for (ws, sid), f in values.items() if ws == alice.workspace_id and "token" in f]
        values[alice.workspace_id, api_id] = {"token": "alice-api-token-2"}
        assert alice.rotate_secret(api_id, values[alice.workspace_id, api_id]) == 2
        created = {"token": "bob-new-token-1"}
        values[bob.workspace_id, bob.create_secret("http_bearer", "after rotation", created)] = created
        carol_fields = {"api_key": "carol-sendgrid-key-1"}
        values[carol.workspace_id, carol.create_secret("sendgrid_api_key", "mail", carol_fields)] = carol_fields
        for browser in browsers:
            listed = browser.request("GET", "/secrets")
            assert listed.status_code == 200, listed.text

        status = normalized(flowvault(env, "keys", "status", cwd=tmp_path))
        assert re.search(rf"{re.escape(new)} │ yes │ 3\b", status), status
        assert re.search(rf"{re.escape(old)} │ +│ 0\b", status), status
        stop_cleanly(server)

        # Restart with only the new key: every stored workspace key must unwrap with it.
        only_new = base_env(data_dir, FLOWVAULT_MASTER_KEYS=entry(new, key_entries(key_file)[new]))
        restarted = serve(servers, only_new, tmp_path / "restarted.log")
        restarted.wait_healthy()
        alice.use(restarted.url)
        values[alice.workspace_id, api_id] = {"token": "alice-api-token-3"}
        assert alice.rotate_secret(api_id, values[alice.workspace_id, api_id]) == 3
        stop_cleanly(restarted)
    finally:
        for browser in browsers:
            browser.close()

    secret_values = [v for fields in values.values() for k, v in fields.items() if k in SECRET_FIELDS]
    for log in (server.output(), restarted.output()):
        assert not [v for v in secret_values if v in log], "a secret value reached the server log"

    for settings in (
        Settings(data_dir=data_dir, database_url=None, master_keys=None, master_key_file=None),
        Settings(data_dir=data_dir, database_url=None, master_keys=only_new["FLOWVAULT_MASTER_KEYS"]),
    ):
        assert resolve_all(settings, values) == values
