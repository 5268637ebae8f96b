"""A Celery cluster for the scale-out tests (SPEC §8): real ``flowvault worker`` processes against the real
PostgreSQL and Redis named by ``FLOWVAULT_TEST_POSTGRES_URL`` / ``FLOWVAULT_TEST_REDIS_URL``, and the app
(``create_app`` in celery mode, in the test process) that queues the runs.

The ``cluster`` and ``gauge`` fixtures are in this folder's ``conftest.py``; test modules mark themselves with
``needs_cluster`` so they are skipped without the two services."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from flowvault.config import Settings
from flowvault.db.base import Base
from flowvault.db.engine import sync_url
from flowvault.dispatch.celery_app import make_celery
from flowvault.runs.models import Run, RunStep
from tests.conftest import Actor
from tests.fakes import FakeEcho, FakeServer
from tests.triggers.conftest import Hook, create_hook

POSTGRES_URL = os.environ.get("FLOWVAULT_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("FLOWVAULT_TEST_REDIS_URL")
needs_cluster = pytest.mark.skipif(
    not (POSTGRES_URL and REDIS_URL),
    reason="needs a real PostgreSQL and Redis: set FLOWVAULT_TEST_POSTGRES_URL and FLOWVAULT_TEST_REDIS_URL "
    "(`make test` starts both)",
)
FLOWVAULT = Path(sys.executable).with_name("flowvault")
LEASE_SECONDS = 3.0
FINISHED = ("succeeded", "failed", "canceled")
Statuses = dict[str, str]


@dataclass
class Cluster:
    settings: Settings
    env: dict[str, str]
    logs: Path
    workers: list[subprocess.Popen[bytes]]

    def start_worker(self, concurrency: int = 2, loglevel: str = "WARNING") -> subprocess.Popen[bytes]:
        with (self.logs / f"worker-{len(self.workers)}.log").open("wb") as log:
            worker = subprocess.Popen(
                [str(FLOWVAULT), "worker", "--concurrency", str(concurrency), "--loglevel", loglevel],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.workers.append(worker)
        return worker

    def wait_ready(self, seconds: float = 60.0) -> None:
        """Returns once every started worker answers a ping over the broker (its pool is up and consuming)."""
        app = make_celery(self.settings)
        deadline = time.monotonic() + seconds
        try:
            while True:
                replies = app.control.ping(timeout=0.5)
                if len(replies) >= len(self.workers):
                    return
                exited = [w.pid for w in self.workers if w.poll() is not None]
                if exited:
                    raise AssertionError(f"worker(s) {exited} exited while starting\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"workers not ready within {seconds} s ({len(replies)} of "
                                         f"{len(self.workers)} answered)\n{self.log_tail()}")
        finally:
            app.close()

    def kill(self, worker: subprocess.Popen[bytes]) -> None:
        """SIGKILL to the worker and its pool processes (its own process group), as a machine dying would."""
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)

    def stop_all(self) -> None:
        """A warm shutdown (SIGTERM) of every worker at once; SIGKILL for any still running after 15 s."""
        running = [w for w in self.workers if w.poll() is None]
        for worker in running:
            worker.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for worker in running:
            try:
                worker.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(worker)

    def log_tail(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.logs.glob("worker-*.log")))


def truncate(url: str) -> None:
    engine = create_engine(sync_url(url))
    with engine.begin() as connection:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


@dataclass
class Hold:
    """One request to ``Gauge`` ``/hold``: when it arrived and ended (monotonic clock of the test process),
    and whether it ended because the client went away (the run was stopped mid-request)."""

    n: str
    started: float
    ended: float | None = None
    aborted: bool = False


class Gauge(FakeServer):
    """A fake that counts requests in flight. ``GET /hold?n=N&ms=M`` answers after M ms, or as soon as the
    client closes the connection (recorded as ``aborted``); ``max_in_flight`` is the most ``/hold`` requests
    that were open at the same moment -- counted exactly, not sampled. ``GET /mark?n=N`` answers at once."""

    def __init__(self, host: str) -> None:
        self.in_flight = 0
        self.max_in_flight = 0
        self._holds: list[Hold] = []
        super().__init__(host)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.in_flight = self.max_in_flight = 0
            self._holds = []

    def routes(self) -> list[BaseRoute]:
        return [Route("/hold", self._hold, methods=["GET"]), Route("/mark", self._mark, methods=["GET"])]

    @property
    def holds(self) -> list[Hold]:
        with self._lock:
            return list(self._holds)

    def marks(self) -> list[str]:
        return [r.query for r in self.requests_to("/mark")]

    async def _hold(self, request: Request) -> Response:
        hold = Hold(request.query_params.get("n", ""), time.monotonic())
        with self._lock:
            self._holds.append(hold)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

        async def client_gone() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass

        gone = asyncio.ensure_future(client_gone())
        try:
            done, _ = await asyncio.wait({gone}, timeout=int(request.query_params.get("ms", "0")) / 1000)
        finally:
            gone.cancel()
            with self._lock:
                self.in_flight -= 1
                hold.ended, hold.aborted = time.monotonic(), gone in done
        return JSONResponse({"n": hold.n})

    async def _mark(self, request: Request) -> Response:
        return JSONResponse({"n": request.query_params.get("n")})


def hold_node(node_id: str, url: str, ms: int | str) -> dict[str, Any]:
    return {"id": node_id, "type": "http_request", "name": f"Hold {node_id}",
            "config": {"method": "GET", "url": f"{url}/hold", "query": {"n": "{{trigger.n}}", "ms": ms}}}


def mark_node(node_id: str, url: str) -> dict[str, Any]:
    return {"id": node_id, "type": "http_request", "name": f"Mark {node_id}",
            "config": {"method": "GET", "url": f"{url}/mark", "query": {"n": f"{node_id}-{{{{trigger.n}}}}"}}}


def delay_node(node_id: str, seconds: float | str) -> dict[str, Any]:
    return {"id": node_id, "type": "delay", "name": f"Wait {node_id}", "config": {"seconds": seconds}}


def configure(actor: Actor, host: str, *, concurrency: int) -> None:
    """The workspace's engine settings (concurrency limit, ``host`` allowed) and a generous webhook rate."""
    ws = actor.workspace_id
    engine = actor.put(f"/api/v1/workspaces/{ws}/settings/engine",
                       json={"concurrency": concurrency, "egress_allowlist": [host]})
    assert engine.status_code == 200, engine.text
    limits = actor.put(f"/api/v1/workspaces/{ws}/settings/webhooks", json={"rate_per_s": 1000, "burst": 10_000})
    assert limits.status_code == 200, limits.text


def chain_hook(actor: Actor, nodes: list[dict[str, Any]], *, name: str = "Orders in") -> Hook:
    """A webhook-triggered workflow running ``nodes`` one after the other."""
    chain: list[dict[str, Any]] = [{"id": "t", "type": "webhook_trigger", "name": "Hook", "config": {}}, *nodes]
    edges = [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(chain)]
    return create_hook(actor, {"nodes": chain, "edges": edges}, name=name)


def echo_hook(actor: Actor, echo: FakeEcho, *, delay: float | None = None) -> Hook:
    configure(actor, echo.host, concurrency=10)
    nodes: list[dict[str, Any]] = [] if delay is None else [delay_node("d", delay)]
    nodes.append({"id": "h", "type": "http_request", "name": "Fetch",
                  "config": {"method": "GET", "url": f"{echo.url}/echo", "query": {"n": "{{trigger.n}}"}}})
    return chain_hook(actor, nodes)


def fire(hook: Hook, count: int, *, start: int = 0, burst: bool = False, **body: Any) -> list[str]:
    """Sends ``count`` webhooks with ``n`` = start, start + 1, ... (and ``body``); returns the run ids.
    ``burst``: all at once, from as many threads (the workers get the wake-ups at about the same moment)."""

    def one(n: int) -> str:
        response = hook.post({"n": n, **body})
        assert response.status_code == 202, response.text
        return str(response.json()["run_id"])

    if not burst:
        return [one(n) for n in range(start, start + count)]
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(start, start + count)))


def runs_by_status(url: str, ids: list[str]) -> Statuses:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(Run.id, Run.status).where(Run.id.in_(ids))).all()
            return {run_id: status for run_id, status in rows}
    finally:
        engine.dispose()


def load_runs(url: str, ids: list[str]) -> tuple[dict[str, Any], list[Any]]:
    """The runs (rows by id) and all their steps."""
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            runs = {r.id: r for r in connection.execute(select(Run).where(Run.id.in_(ids))).all()}
            steps = list(connection.execute(select(RunStep).where(RunStep.run_id.in_(ids))).all())
        return runs, steps
    finally:
        engine.dispose()


def counts(statuses: Statuses) -> dict[str, int]:
    values = list(statuses.values())
    return {s: values.count(s) for s in sorted(set(values))}


def wait_until(cluster: Cluster, ids: list[str], done: Callable[[Statuses], bool], seconds: float,
               what: str, *, every: float = 0.2) -> Statuses:
    deadline = time.monotonic() + seconds
    while True:
        statuses = runs_by_status(cluster.settings.resolved_database_url, ids)
        if done(statuses):
            return statuses
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {seconds} s: {counts(statuses)}\n{cluster.log_tail()}")
        time.sleep(every)


def wait_for(check: Callable[[], bool], seconds: float, what: str, cluster: Cluster | None = None) -> float:
    """Polls ``check`` until it holds; returns the seconds it took. Fails after ``seconds``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"{what} not reached within {seconds} s\n{cluster.log_tail() if cluster else ''}")
        time.sleep(0.05)
    return time.monotonic() - started


def all_finished(statuses: Statuses) -> bool:
    return all(s in FINISHED for s in statuses.values())

