"""Browser tests of the web app: a real ``flowvault serve`` (embedded SQLite) serving frontend/dist, driven
by Playwright through Debian's Chromium (never ``playwright install``: see shared MACHINE-NOTES).

One server per session; every test signs up its own users, so tests do not see each other's data. Each test
gets a fresh browser context (its own cookies) whose API responses are recorded, so a test can prove that a
secret value never came back from the server. Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.web.ui import App, Recorder

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "frontend" / "dist" / "index.html"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
FLOWVAULT = Path(sys.executable).with_name("flowvault")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
FAKE_HOST = "127.0.0.2"  # where tests/fakes listen; the operator exemption lets the egress guard through
START_DEADLINE = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not DIST.exists():
        pytest.fail("frontend/dist is missing: build the web app first (`make web`, which `make test` runs)")
    data_dir = tmp_path_factory.mktemp("web-data")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWVAULT_")}
    env.update(FLOWVAULT_DATA_DIR=str(data_dir), FLOWVAULT_ALLOW_PRIVATE_HOSTS=FAKE_HOST, PYTHONUNBUFFERED="1")
    log_path = data_dir / "serve.log"
    log: IO[bytes] = log_path.open("wb")
    proc = subprocess.Popen(
        [str(FLOWVAULT), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_DEADLINE
    while True:
        if proc.poll() is not None:
            log.close()
            pytest.fail(f"flowvault serve exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"flowvault serve did not answer within {START_DEADLINE}s:\n{log_path.read_text()}")
        time.sleep(0.1)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium")
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


class Browsers:
    """Opens browser windows (contexts with their own cookies), each with its API responses recorded."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts: list[BrowserContext] = []

    def open(self) -> App:
        context = self.browser.new_context(viewport={"width": 1280, "height": 800}, base_url=self.base_url)
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page: Page = context.new_page()
        recorder = Recorder()
        page.on("response", recorder.on_response)
        page.on("pageerror", recorder.on_page_error)
        return App(page, recorder, self.base_url)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsers(browser: Browser, base_url: str) -> Iterator[Browsers]:
    opened = Browsers(browser, base_url)
    yield opened
    opened.close()


@pytest.fixture
def app(browsers: Browsers) -> App:
    """One browser window on the web app."""
    return browsers.open()


@pytest.fixture
def email() -> str:
    return f"web-{uuid.uuid4().hex[:10]}@example.com"
