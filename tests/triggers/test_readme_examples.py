"""The README's webhook examples really work: this test takes the code blocks out of README.md, puts a
live server's URL and signing key in place of the placeholders, runs them (curl + openssl in bash,
Python, Node's JavaScript) against ``flowvault serve`` on 127.0.0.1, and checks each queued a run
that ran with the example's body. The server's log never shows the token or the signing key."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowvault.config import Settings
from tests.conftest import PASSWORD
from tests.triggers.conftest import webhook_graph

README = Path(__file__).resolve().parents[2] / "README.md"
FLOWVAULT = Path(sys.executable).with_name("flowvault")
PLACEHOLDER_URL = "http://127.0.0.1:8000/hooks/YOUR_WORKFLOW_ID/YOUR_TOKEN"
PLACEHOLDER_KEY = "YOUR_SIGNING_KEY"
EXAMPLE_BODY = {"customer": "acme", "amount": 42}
RUN_ID = re.compile(r'"run_id"\s*:\s*"([0-9a-f-]{36})"')
DEADLINE = 20.0


def readme_examples() -> dict[str, tuple[str, str]]:
    """``<!-- example: NAME -->`` followed by a fenced block → {NAME: (language, code)}."""
    section = README.read_text(encoding="utf-8").split("\n## Webhooks\n", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"<!-- example: ([\w-]+) -->\n```(\w+)\n(.*?)\n```", section, flags=re.DOTALL)
    return {name: (language, code) for name, language, code in found}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWVAULT_")}
        env.update(FLOWVAULT_DATA_DIR=str(settings.data_dir), PYTHONUNBUFFERED="1", NO_COLOR="1")
        if settings.database_url:
            env["FLOWVAULT_DATABASE_URL"] = settings.database_url
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(FLOWVAULT), "serve", "--port", str(self.port)],
            env=env, cwd=log_path.parent, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self) -> None:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                pytest.fail(f"flowvault serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"flowvault serve did not become healthy:\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._log.close()


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(settings, tmp_path / "serve.log")
    try:
        live.wait_healthy()
        yield live
    finally:
        live.stop()


class Owner:
    """A signed-up user talking to the live server with its browser session (CSRF header on changes)."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10.0)
        signed_up = self.http.post("/api/v1/auth/signup", json={"email": "owner@example.com", "password": PASSWORD})
        assert signed_up.status_code == 201, signed_up.text
        self.ws = signed_up.json()["workspace"]["id"]

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"X-CSRF-Token": self.http.cookies["flowvault_csrf"]}
        response = self.http.request(method, f"/api/v1/workspaces/{self.ws}{path}", headers=headers, **kwargs)
        assert response.is_success, response.text
        return response.json()

    def wait_for_run(self, run_id: str) -> dict[str, Any]:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            run: dict[str, Any] = self.call("GET", f"/runs/{run_id}")
            if run["status"] not in ("queued", "running"):
                return run
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} did not finish")


def run_example(language: str, code: str, workdir: Path) -> str:
    if language == "sh":
        command = ["bash", "-euo", "pipefail", "-c", code]
    elif language == "python":
        command = [sys.executable, "-c", code]
    else:
        assert language == "javascript", language
        node = shutil.which("node")
        if node is None:
            pytest.skip("node is not installed")
        script = workdir / "send.mjs"
        script.write_text(code, encoding="utf-8")
        command = [node, str(script)]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, (language, done.returncode, done.stdout, done.stderr)
    return done.stdout


def next_second() -> None:
    """The examples all send the same body; signed in the same second, the second one would be a replay."""
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.02)


@pytest.fixture
def owner(server: LiveServer) -> Iterator[Owner]:
    signed_up = Owner(server.url)
    try:
        yield signed_up
    finally:
        signed_up.http.close()


def test_the_readme_webhook_examples_queue_runs(server: LiveServer, owner: Owner, tmp_path: Path) -> None:
    examples = readme_examples()
    assert set(examples) == {"webhook-curl-unsigned", "webhook-curl", "webhook-python", "webhook-javascript"}
    for _language, code in examples.values():
        assert PLACEHOLDER_URL in code
    workflow = owner.call("POST", "/workflows", json={"name": "README", "graph": webhook_graph()})
    hook = owner.call("GET", f"/workflows/{workflow['id']}/webhook")
    assert hook["url"] == f"{server.url}/hooks/{workflow['id']}/{hook['token']}"

    def run(name: str, key: str = "") -> str:
        language, code = examples[name]
        return run_example(language, code.replace(PLACEHOLDER_URL, hook["url"]).replace(PLACEHOLDER_KEY, key),
                           tmp_path)

    run_ids = []
    unsigned = run("webhook-curl-unsigned")
    run_ids.append(RUN_ID.search(unsigned).group(1))  # type: ignore[union-attr]

    key = owner.call("POST", "/settings/webhooks/signing-key")["signing_key"]
    owner.call("PUT", "/settings/webhooks", json={"hmac_required": True})
    assert '"code":"signature_missing"' in run("webhook-curl-unsigned").replace(" ", "")
    for name in ("webhook-curl", "webhook-python", "webhook-javascript"):
        next_second()
        output = run(name, key)
        found = RUN_ID.search(output)
        assert found is not None, (name, output)
        if name != "webhook-curl":
            assert output.startswith("202 "), (name, output)
        run_ids.append(found.group(1))

    for run_id in run_ids:
        finished = owner.wait_for_run(run_id)
        assert finished["status"] == "succeeded", finished
        assert finished["trigger"] == "webhook" and finished["input"] == EXAMPLE_BODY
        assert finished["steps"][-1]["output"] == {"value": "ACME"}
    assert len(owner.call("GET", "/runs", params={"workflow_id": workflow["id"]})["items"]) == 4

    server.stop()
    log = server.output()
    assert f"/hooks/{workflow['id']}/[REDACTED:webhook token]" in log
    assert hook["token"] not in log and key not in log
