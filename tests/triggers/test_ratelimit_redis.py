"""The webhook rate limit shared through Redis (SPEC §8 scale-out): with ``FLOWVAULT_REDIS_URL`` set, every
``serve`` process takes from the same bucket per workflow, so N processes together still let through only
``burst`` requests at once. Redis down: webhooks are still accepted, limited by each process, and the
shared limit comes back with Redis.

Needs a real Redis: ``FLOWVAULT_TEST_REDIS_URL`` (``make test`` starts one). The two-process test also
needs ``FLOWVAULT_TEST_POSTGRES_URL``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from flowvault.app import create_app
from flowvault.config import Settings
from flowvault.deps import AppState
from flowvault.secrets.keyring import create_key_file
from flowvault.triggers import ratelimit
from flowvault.triggers.ratelimit import KEY_PREFIX, InProcessLimiter, RedisTokenBuckets, expiry_ms, hook_limiter_for
from tests.conftest import POSTGRES_URL, _truncate_postgres, sign_up
from tests.test_serve import Browser, Server, base_env, free_port, serve, servers  # noqa: F401 (fixture)
from tests.triggers.conftest import assert_problem, create_hook, webhook_graph

REDIS_URL = os.environ.get("FLOWVAULT_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(
    not REDIS_URL, reason="needs a real Redis: set FLOWVAULT_TEST_REDIS_URL (`make test` starts one)"
)
DEADLINE_S = 10.0
SLOW = 0.1
"""A rate (tokens/s) slow enough that no token comes back during a test: a refill takes 10 s."""


def _sync_redis() -> Any:
    import redis

    assert REDIS_URL
    return redis.Redis.from_url(REDIS_URL, decode_responses=True)


def _delete(pattern: str) -> None:
    client = _sync_redis()
    try:
        for key in client.scan_iter(match=pattern):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own, deleted afterwards."""
    own = f"flowvault-test:{uuid.uuid4().hex}:"
    yield own
    _delete(f"{own}*")


@pytest.fixture
def clean_hook_keys() -> Iterator[None]:
    """Apps use the real prefix: their buckets (and Celery's wake-up messages) are removed after the test."""
    yield
    _delete(f"{KEY_PREFIX}*")
    client = _sync_redis()
    try:
        client.delete("flowvault")  # the Celery queue the app's wake-ups went to (no worker here)
        for key in client.scan_iter(match="_kombu.binding*"):
            client.delete(key)
    finally:
        client.close()


@contextlib.asynccontextmanager
async def shared(url: str, **kwargs: Any) -> AsyncIterator[RedisTokenBuckets]:
    buckets = RedisTokenBuckets(url, **kwargs)
    try:
        yield buckets
    finally:
        await buckets.aclose()


def test_the_limiter_follows_the_settings() -> None:
    assert isinstance(hook_limiter_for(None), InProcessLimiter)
    assert REDIS_URL
    limiter = hook_limiter_for(REDIS_URL)
    assert isinstance(limiter, RedisTokenBuckets)
    assert REDIS_URL not in repr(limiter)


# --- the Redis bucket -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_burst_then_refusal_with_the_wait_and_an_expiry(prefix: str) -> None:
    assert REDIS_URL
    async with shared(REDIS_URL, prefix=prefix) as buckets:
        assert [await buckets.take("wf", rate=2, burst=3) for _ in range(3)] == [0.0, 0.0, 0.0]
        wait = await buckets.take("wf", rate=2, burst=3)
        assert 0.3 < wait <= 0.5, "an empty bucket at 2/s has its next token in half a second"
        again = await buckets.take("wf", rate=2, burst=3)
        assert 0.0 < again <= wait, "a refused request takes nothing: the wait only shrinks"

        stored = _sync_redis()
        try:
            key = f"{prefix}wf"
            assert set(stored.hgetall(key)) == {"t", "us"}
            ttl = stored.pttl(key)
            assert 0 < ttl <= expiry_ms(rate=2, burst=3) == 2500, "an idle bucket expires once full again"
        finally:
            stored.close()
        assert not buckets.degraded


@pytest.mark.asyncio
async def test_refill_over_time_never_beyond_the_burst(prefix: str) -> None:
    assert REDIS_URL
    rate, burst = 4.0, 2  # a token every 0.25 s: a stalled test run gains none between two quick takes
    async with shared(REDIS_URL, prefix=prefix) as buckets:
        assert [await buckets.take("wf", rate=rate, burst=burst) for _ in range(burst)] == [0.0] * burst
        wait = await buckets.take("wf", rate=rate, burst=burst)
        assert 0.0 < wait <= 1 / rate
        await asyncio.sleep(wait + 0.01)  # the wait it gave: then there is a token, and only one
        assert await buckets.take("wf", rate=rate, burst=burst) == 0.0
        assert await buckets.take("wf", rate=rate, burst=burst) > 0.0
        await asyncio.sleep(burst / rate * 2)  # long enough to refill two bursts: it holds one
        takes = [await buckets.take("wf", rate=rate, burst=burst) for _ in range(burst + 1)]
        assert takes[:burst] == [0.0] * burst and takes[burst] > 0.0, takes


@pytest.mark.asyncio
async def test_keys_and_prefixes_are_independent(prefix: str) -> None:
    assert REDIS_URL
    async with (
        shared(REDIS_URL, prefix=prefix) as buckets,
        shared(REDIS_URL, prefix=f"{prefix}other:") as elsewhere,
    ):
        assert await buckets.take("a", rate=SLOW, burst=1) == 0.0
        assert await buckets.take("a", rate=SLOW, burst=1) > 9.0
        assert await buckets.take("b", rate=SLOW, burst=1) == 0.0, "each workflow has its own bucket"
        assert await elsewhere.take("a", rate=SLOW, burst=1) == 0.0


@pytest.mark.asyncio
async def test_two_clients_share_one_bucket(prefix: str) -> None:
    """Two processes' limiters (two clients, two connection pools) take from the same bucket."""
    assert REDIS_URL
    async with shared(REDIS_URL, prefix=prefix) as first, shared(REDIS_URL, prefix=prefix) as second:
        waits = [await (first if n % 2 else second).take("wf", rate=SLOW, burst=5) for n in range(8)]
    assert waits[:5] == [0.0] * 5 and all(w > 9.0 for w in waits[5:]), waits


@pytest.mark.asyncio
async def test_an_idle_bucket_vanishes(prefix: str) -> None:
    assert REDIS_URL
    async with shared(REDIS_URL, prefix=prefix) as buckets:
        assert await buckets.take("wf", rate=10, burst=1) == 0.0  # full again after 0.1 s; expires at 1.1 s
    stored = _sync_redis()
    try:
        assert stored.exists(f"{prefix}wf")
        deadline = asyncio.get_running_loop().time() + DEADLINE_S
        while stored.exists(f"{prefix}wf"):
            assert asyncio.get_running_loop().time() < deadline, "the idle bucket did not expire"
            await asyncio.sleep(0.1)
    finally:
        stored.close()


@pytest.mark.asyncio
async def test_a_script_redis_has_not_cached_is_sent_with_eval(prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """EVALSHA first; when Redis does not know the script (first use, a restart), EVAL, which caches it."""
    assert REDIS_URL
    script = f"{ratelimit.TAKE_SCRIPT}-- {uuid.uuid4().hex}\n"  # a script no Redis has seen
    sha = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
    monkeypatch.setattr(ratelimit, "TAKE_SCRIPT", script)
    monkeypatch.setattr(ratelimit, "TAKE_SCRIPT_SHA", sha)
    stored = _sync_redis()
    try:
        assert stored.script_exists(sha) == [False]
        async with shared(REDIS_URL, prefix=prefix) as buckets:
            assert await buckets.take("wf", rate=SLOW, burst=1) == 0.0
            assert stored.script_exists(sha) == [True]
            assert await buckets.take("wf", rate=SLOW, burst=1) > 9.0
            assert not buckets.degraded
    finally:
        stored.close()


# --- Redis unreachable -------------------------------------------------------------------------------------


def closed_port() -> int:
    return free_port()  # bound, then released: nothing listens there


@pytest.mark.asyncio
async def test_redis_down_accepts_and_limits_in_process_and_logs_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://:a-redis-password-1@127.0.0.1:{closed_port()}/0"
    caplog.set_level(logging.WARNING, logger="flowvault.triggers")
    async with shared(url, pause_after_failure_s=0.0) as buckets:
        waits = [await buckets.take("wf", rate=SLOW, burst=3) for _ in range(5)]
        assert buckets.degraded
    assert waits[:3] == [0.0] * 3, "webhooks are not refused because Redis is down"
    assert all(w > 9.0 for w in waits[3:]), "but each process still limits them"
    warnings = [r for r in caplog.records if r.name == "flowvault.triggers"]
    assert len(warnings) == 1, "one warning a minute, not one per request"
    assert "ConnectionError" in warnings[0].getMessage()
    assert "a-redis-password-1" not in caplog.text and "redis://" not in caplog.text


class Proxy:
    """A TCP relay in front of the real Redis that can be taken down and brought back on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Stops listening and cuts every relayed connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        for task in (asyncio.create_task(pipe(reader, up_writer)), asyncio.create_task(pipe(up_reader, writer))):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


@pytest.mark.asyncio
async def test_falls_back_while_redis_is_down_and_shares_again_when_it_is_back(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert REDIS_URL
    real = urlsplit(REDIS_URL)
    proxy = Proxy(real.hostname or "127.0.0.1", real.port or 6379)
    await proxy.start()
    caplog.set_level(logging.INFO, logger="flowvault.triggers")
    try:
        async with shared(f"redis://127.0.0.1:{proxy.port}{real.path}", prefix=prefix,
                          pause_after_failure_s=0.0) as buckets:
            assert await buckets.take("wf", rate=SLOW, burst=2) == 0.0  # Redis: one token left
            await proxy.stop()
            down = [await buckets.take("wf", rate=SLOW, burst=2) for _ in range(3)]
            assert down[:2] == [0.0, 0.0] and down[2] > 9.0, down  # this process's own (full) bucket
            assert buckets.degraded
            await proxy.start()
            assert await buckets.take("wf", rate=SLOW, burst=2) == 0.0, "Redis's bucket again: its last token"
            assert not buckets.degraded
            assert await buckets.take("wf", rate=SLOW, burst=2) > 9.0
    finally:
        await proxy.stop()
    messages = [r.getMessage() for r in caplog.records if r.name == "flowvault.triggers"]
    assert len(messages) == 2 and "Redis failed" in messages[0] and "answers again" in messages[1], messages


@pytest.mark.asyncio
async def test_after_a_failure_redis_is_left_alone_for_a_pause(prefix: str) -> None:
    """A Redis that hangs would otherwise cost every request its timeout."""
    now = [100.0]
    async with shared(f"redis://127.0.0.1:{closed_port()}/0", prefix=prefix, pause_after_failure_s=2.0,
                      clock=lambda: now[0]) as buckets:
        attempts = 0
        original = buckets._take_shared

        async def counted(key: str, *, rate: float, burst: int) -> float:
            nonlocal attempts
            attempts += 1
            return await original(key, rate=rate, burst=burst)

        buckets._take_shared = counted  # type: ignore[method-assign]
        for _ in range(3):
            await buckets.take("wf", rate=SLOW, burst=5)
        assert attempts == 1
        now[0] += 2.0
        await buckets.take("wf", rate=SLOW, burst=5)
        assert attempts == 2


# --- through the app: several processes, one limit ----------------------------------------------------------


def _post(client: TestClient | httpx.Client, path: str, n: int) -> httpx.Response:
    response: httpx.Response = client.post(
        path, content=json.dumps({"customer": f"c{n}"}), headers={"Content-Type": "application/json"}
    )
    return response


def close_limiter(client: TestClient) -> None:
    """Closes the app's Redis client on the app's event loop. The app's shutdown should do it (closing twice
    is harmless); a client left open is a ResourceWarning, an error here."""
    state: AppState = client.app.state.flowvault  # type: ignore[attr-defined]
    assert client.portal is not None
    client.portal.call(state.hook_limiter.aclose)


def test_two_app_instances_share_the_limit(settings: Settings, clean_hook_keys: None) -> None:
    """Two apps on one database and one Redis, as two ``serve`` processes would be."""
    assert REDIS_URL
    scaled = settings.model_copy(update={"executor": "celery", "redis_url": REDIS_URL})
    with TestClient(create_app(scaled)) as first, TestClient(create_app(scaled)) as second:
        try:
            owner = sign_up(first, "owner@example.com")
            limits = owner.put(f"/api/v1/workspaces/{owner.workspace_id}/settings/webhooks",
                               json={"rate_per_s": SLOW, "burst": 4})
            assert limits.status_code == 200, limits.text
            hook = create_hook(owner)
            answers = [_post(first if n % 2 else second, hook.path, n) for n in range(8)]
            assert [a.status_code for a in answers] == [202] * 4 + [429] * 4
            problem = assert_problem(answers[-1], 429, "rate_limited")
            assert answers[-1].headers["Retry-After"] == "10" and problem["retry_after"] == 10
            assert len(hook.runs()) == 4
        finally:
            close_limiter(first)
            close_limiter(second)


def test_redis_down_the_app_still_accepts_and_limits_per_process(settings: Settings) -> None:
    down = settings.model_copy(update={"executor": "embedded", "redis_url": f"redis://127.0.0.1:{closed_port()}/0"})
    with TestClient(create_app(down)) as client:
        try:
            owner = sign_up(client, "owner@example.com")
            limits = owner.put(f"/api/v1/workspaces/{owner.workspace_id}/settings/webhooks",
                               json={"rate_per_s": SLOW, "burst": 3})
            assert limits.status_code == 200, limits.text
            hook = create_hook(owner)
            assert [hook.post({"customer": "x"}).status_code for _ in range(4)] == [202] * 3 + [429]
        finally:
            close_limiter(client)


@pytest.mark.skipif(not POSTGRES_URL, reason="two `flowvault serve` processes need FLOWVAULT_TEST_POSTGRES_URL")
def test_two_serve_processes_share_the_limit(
    tmp_path: Path, servers: list[Server], postgres_migrated: str, clean_hook_keys: None  # noqa: F811
) -> None:
    assert REDIS_URL
    _truncate_postgres(postgres_migrated)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    create_key_file(data_dir / "master.key")
    env = base_env(data_dir, FLOWVAULT_DATABASE_URL=postgres_migrated, FLOWVAULT_EXECUTOR="celery",
                   FLOWVAULT_REDIS_URL=REDIS_URL)
    first = serve(servers, env, tmp_path / "first.log")
    first.wait_healthy()
    second = serve(servers, env, tmp_path / "second.log")
    second.wait_healthy()
    owner = Browser(first.url, "owner@example.com")
    try:
        limits = owner.request("PUT", "/settings/webhooks", json={"rate_per_s": SLOW, "burst": 5})
        assert limits.status_code == 200, limits.text
        created = owner.request("POST", "/workflows", json={"name": "Orders in", "enabled": True,
                                                           "graph": webhook_graph()})
        assert created.status_code == 201, created.text
        shown = owner.request("GET", f"/workflows/{created.json()['id']}/webhook")
        assert shown.status_code == 200, shown.text
        path = urlsplit(shown.json()["url"]).path
        with httpx.Client(base_url=first.url, timeout=10.0) as one, httpx.Client(base_url=second.url,
                                                                                   timeout=10.0) as two:
            answers = [_post(one if n % 2 else two, path, n) for n in range(10)]
        assert [a.status_code for a in answers] == [202] * 5 + [429] * 5, [a.text for a in answers]
        assert {a.headers["Retry-After"] for a in answers[5:]} == {"10"}
    finally:
        owner.close()
        for server in (first, second):
            assert server.stop() in (0, -15), server.output()
        _truncate_postgres(postgres_migrated)
    for server in (first, second):
        assert "Traceback" not in server.output(), server.output()
