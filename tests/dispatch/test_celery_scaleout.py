"""Scale-out on Celery + Redis + PostgreSQL (SPEC §8): the app queues runs in celery mode and real
``flowvault worker`` processes execute them. 200 webhook-triggered runs complete exactly once; a
worker killed with SIGKILL mid-run loses no run (each ends succeeded, or dead-lettered with a reason)
and none runs in two attempts at once.

Needs ``FLOWVAULT_TEST_POSTGRES_URL`` and ``FLOWVAULT_TEST_REDIS_URL`` (``make test`` starts both)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from flowvault.app import create_app
from flowvault.config import Settings
from flowvault.db import migrate
from flowvault.db.base import Base
from flowvault.db.engine import sync_url
from flowvault.runs.models import Run, RunStep
from flowvault.secrets.keyring import create_key_file
from tests.conftest import Actor, sign_up
from tests.fakes import FakeEcho
from tests.triggers.conftest import Hook, create_hook

POSTGRES_URL = os.environ.get("FLOWVAULT_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("FLOWVAULT_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(
    not (POSTGRES_URL and REDIS_URL),
    reason="needs a real PostgreSQL and Redis: set FLOWVAULT_TEST_POSTGRES_URL and FLOWVAULT_TEST_REDIS_URL "
    "(`make test` starts both)",
)
FLOWVAULT = Path(sys.executable).with_name("flowvault")
LEASE_SECONDS = 3.0
FINISHED = ("succeeded", "failed", "canceled")


@dataclass
class Cluster:
    settings: Settings
    env: dict[str, str]
    logs: Path
    workers: list[subprocess.Popen[bytes]]

    def start_worker(self, concurrency: int = 2) -> subprocess.Popen[bytes]:
        with (self.logs / f"worker-{len(self.workers)}.log").open("wb") as log:
            worker = subprocess.Popen(
                [str(FLOWVAULT), "worker", "--concurrency", str(concurrency), "--loglevel", "WARNING"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.workers.append(worker)
        return worker

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


def _truncate(url: str) -> None:
    engine = create_engine(sync_url(url))
    with engine.begin() as connection:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


@pytest.fixture
def cluster(tmp_path: Path, fake_echo: FakeEcho) -> Iterator[Cluster]:
    assert POSTGRES_URL and REDIS_URL
    migrate.upgrade(POSTGRES_URL)
    _truncate(POSTGRES_URL)
    _flush_redis(REDIS_URL)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    create_key_file(data_dir / "master.key")
    settings = Settings(
        data_dir=data_dir, database_url=POSTGRES_URL, master_keys=None, master_key_file=None,
        executor="celery", redis_url=REDIS_URL, allow_private_hosts=fake_echo.host, run_lease_seconds=LEASE_SECONDS,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWVAULT_")}
    env.update({
        "FLOWVAULT_DATA_DIR": str(data_dir),
        "FLOWVAULT_DATABASE_URL": POSTGRES_URL,
        "FLOWVAULT_EXECUTOR": "celery",
        "FLOWVAULT_REDIS_URL": REDIS_URL,
        "FLOWVAULT_ALLOW_PRIVATE_HOSTS": fake_echo.host,
        "FLOWVAULT_RUN_LEASE_SECONDS": str(LEASE_SECONDS),
    })
    logs = tmp_path / "logs"
    logs.mkdir()
    cluster = Cluster(settings, env, logs, [])
    try:
        yield cluster
    finally:
        cluster.stop_all()
        _truncate(POSTGRES_URL)
        _flush_redis(REDIS_URL)


def echo_hook(actor: Actor, echo: FakeEcho, *, delay: float | None = None) -> Hook:
    nodes: list[dict[str, Any]] = [{"id": "t", "type": "webhook_trigger", "name": "Hook", "config": {}}]
    if delay is not None:
        nodes.append({"id": "d", "type": "delay", "name": "Wait", "config": {"seconds": delay}})
    nodes.append({"id": "h", "type": "http_request", "name": "Fetch",
                  "config": {"method": "GET", "url": f"{echo.url}/echo", "query": {"n": "{{trigger.n}}"}}})
    edges = [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(nodes)]
    ws = actor.workspace_id
    engine = actor.put(f"/api/v1/workspaces/{ws}/settings/engine",
                       json={"concurrency": 10, "egress_allowlist": [echo.host]})
    assert engine.status_code == 200, engine.text
    limits = actor.put(f"/api/v1/workspaces/{ws}/settings/webhooks", json={"rate_per_s": 1000, "burst": 10_000})
    assert limits.status_code == 200, limits.text
    return create_hook(actor, {"nodes": nodes, "edges": edges})


def fire(hook: Hook, count: int) -> list[str]:
    ids = []
    for n in range(count):
        response = hook.post({"n": n})
        assert response.status_code == 202, response.text
        ids.append(str(response.json()["run_id"]))
    return ids


def runs_by_status(url: str, ids: list[str]) -> dict[str, str]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(Run.id, Run.status).where(Run.id.in_(ids))).all()
            return {run_id: status for run_id, status in rows}
    finally:
        engine.dispose()


def wait_until(cluster: Cluster, ids: list[str], done: Any, seconds: float, what: str) -> dict[str, str]:
    assert POSTGRES_URL
    deadline = time.monotonic() + seconds
    while True:
        statuses = runs_by_status(POSTGRES_URL, ids)
        if done(statuses):
            return statuses
        if time.monotonic() > deadline:
            counts = {s: list(statuses.values()).count(s) for s in set(statuses.values())}
            raise AssertionError(f"{what} not reached within {seconds} s: {counts}\n{cluster.log_tail()}")
        time.sleep(0.2)


def all_finished(statuses: dict[str, str]) -> bool:
    return all(s in FINISHED for s in statuses.values())


def test_200_webhook_runs_complete_exactly_once(cluster: Cluster, fake_echo: FakeEcho) -> None:
    cluster.start_worker(2)
    cluster.start_worker(2)
    with TestClient(create_app(cluster.settings)) as client:
        actor = sign_up(client, "owner@example.com")
        hook = echo_hook(actor, fake_echo)
        ids = fire(hook, 200)
        statuses = wait_until(cluster, ids, all_finished, 60, "all 200 runs finished")
    assert set(statuses.values()) == {"succeeded"}, cluster.log_tail()
    received = sorted(int(r.json["args"]["n"]) if r.json else int(r.query.split("=")[1])
                      for r in fake_echo.requests_to("/echo"))
    assert received == list(range(200))  # each run's request arrived once: none lost, none repeated
    engine = create_engine(sync_url(cluster.settings.resolved_database_url))
    with engine.connect() as connection:
        attempts = connection.execute(select(Run.attempts).where(Run.id.in_(ids))).scalars().all()
    engine.dispose()
    assert set(attempts) == {1}


def test_sigkilled_worker_loses_no_run(cluster: Cluster, fake_echo: FakeEcho) -> None:
    doomed = cluster.start_worker(2)
    with TestClient(create_app(cluster.settings)) as client:
        actor = sign_up(client, "owner@example.com")
        hook = echo_hook(actor, fake_echo, delay=1.0)
        ids = fire(hook, 12)
        wait_until(cluster, ids, lambda s: list(s.values()).count("running") >= 2, 30, "two runs in flight")
        cluster.kill(doomed)
        in_flight = [i for i, s in runs_by_status(cluster.settings.resolved_database_url, ids).items()
                     if s == "running"]
        assert in_flight
        cluster.start_worker(2)
        statuses = wait_until(cluster, ids, all_finished, 60, "all runs finished after the kill")

    engine = create_engine(sync_url(cluster.settings.resolved_database_url))
    with engine.connect() as connection:
        runs = {r.id: r for r in connection.execute(select(Run).where(Run.id.in_(ids))).all()}
        steps = connection.execute(select(RunStep).where(RunStep.run_id.in_(ids))).all()
    engine.dispose()
    for run_id, status in statuses.items():
        run = runs[run_id]
        assert status == "succeeded" or (status == "failed" and "dead-lettered" in (run.error or "")), (status, run)
    for run_id in in_flight:
        run = runs[run_id]
        assert run.attempts >= 2, "a run interrupted by the kill is retried"
        earlier = [s for s in steps if s.run_id == run_id and s.seq < 0]
        for step in earlier:  # the previous attempt's steps stay, marked, and ended before the retry began
            assert any("interrupted" in line for line in step.logs)
            assert step.finished_at <= run.started_at
    interrupted = set(in_flight)
    assert all(runs[i].attempts == 1 for i in ids if i not in interrupted)
    assert all(s.seq > 0 for s in steps if s.run_id not in interrupted)
