"""Scale-out on Celery + Redis + PostgreSQL (SPEC §8): the app queues runs in celery mode and real
``flowvault worker`` processes execute them. 200 webhook-triggered runs complete exactly once; a
worker killed with SIGKILL mid-run loses no run (each ends succeeded, or dead-lettered with a reason)
and none runs in two attempts at once.

Needs ``FLOWVAULT_TEST_POSTGRES_URL`` and ``FLOWVAULT_TEST_REDIS_URL`` (``make test`` starts both)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from flowvault.app import create_app
from flowvault.db.engine import sync_url
from flowvault.runs.models import Run, RunStep
from tests.conftest import sign_up
from tests.dispatch.cluster import Cluster, all_finished, echo_hook, fire, needs_cluster, runs_by_status, wait_until
from tests.fakes import FakeEcho

pytestmark = needs_cluster


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
