"""Wake-ups in Celery mode (``dispatch/pending.py``, ``dispatch/celery_app.py``): runs queued while a wake-up
waits for a worker share it, yet every run executes, and a backlog found by one pool process is shared with
the idle ones. On the real Redis (and PostgreSQL for the cluster test)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from flowvault.app import create_app
from flowvault.dispatch.celery_app import WAKE_TASK, send_wakeup
from flowvault.dispatch.pending import PENDING_KEY, PendingWakeup
from tests.conftest import sign_up
from tests.dispatch.cluster import (
    REDIS_URL,
    Cluster,
    Gauge,
    all_finished,
    chain_hook,
    configure,
    fire,
    hold_node,
    load_runs,
    mark_node,
    needs_cluster,
    runs_by_status,
    wait_for,
    wait_until,
)

pytestmark = needs_cluster
QUEUE = "flowvault"
"""The broker's list of waiting messages (Celery's Redis transport names it after the queue)."""


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    assert REDIS_URL
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(PENDING_KEY, QUEUE)
    try:
        yield client
    finally:
        client.delete(PENDING_KEY, QUEUE)
        client.close()


@pytest.fixture
def pending(broker: redis.Redis) -> Iterator[PendingWakeup]:
    assert REDIS_URL
    flag = PendingWakeup(REDIS_URL, expire_seconds=30)
    yield flag
    flag.close()


def test_the_flag_is_set_once_until_a_worker_takes_the_wakeup(pending: PendingWakeup) -> None:
    assert pending.reserve()
    assert not pending.reserve()
    assert not pending.reserve()
    pending.clear()
    assert pending.reserve()


def test_a_flag_whose_wakeup_never_went_out_expires(broker: redis.Redis) -> None:
    assert REDIS_URL
    flag = PendingWakeup(REDIS_URL, expire_seconds=0.3)
    try:
        assert flag.reserve()
        assert not flag.reserve()
        ttl_ms = broker.pttl(PENDING_KEY)
        assert 0 < ttl_ms <= 300
        time.sleep(0.4)
        assert flag.reserve()
    finally:
        flag.close()


class Refusing:
    """A Celery app whose broker refuses the message."""

    def __init__(self) -> None:
        self.tried = 0

    def send_task(self, name: str) -> None:
        assert name == WAKE_TASK
        self.tried += 1
        raise ConnectionError("broker gone")


class Accepting:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_task(self, name: str) -> None:
        self.sent.append(name)


def test_a_wakeup_is_sent_only_when_none_is_waiting(pending: PendingWakeup) -> None:
    app = Accepting()
    assert send_wakeup(app, pending)
    assert not send_wakeup(app, pending)
    assert app.sent == [WAKE_TASK]
    pending.clear()  # a worker took it
    assert send_wakeup(app, pending)
    assert app.sent == [WAKE_TASK, WAKE_TASK]


def test_a_wakeup_that_could_not_be_sent_leaves_the_flag_clear(pending: PendingWakeup) -> None:
    app = Refusing()
    with pytest.raises(ConnectionError):
        send_wakeup(app, pending)
    with pytest.raises(ConnectionError):
        send_wakeup(app, pending)
    assert app.tried == 2  # the first failure did not make the second call believe one was on its way


def test_queued_runs_share_one_waiting_wakeup_and_idle_processes_join_the_backlog(
    cluster: Cluster, broker: redis.Redis
) -> None:
    """Six runs queued with no worker running send one wake-up, not six. A worker of three pool processes
    (one run at a time each) then starts and sends one of its own (for runs queued while none ran): two
    processes take the two. The one that finds runs left behind by its claim wakes the third, so three runs
    hold the gauge at once. (A lease of a minute keeps the workers' periodic wake-ups, every half lease, out
    of the test.)"""
    cluster.settings = cluster.settings.model_copy(update={"run_lease_seconds": 60.0})
    cluster.env["FLOWVAULT_RUN_LEASE_SECONDS"] = "60"
    cluster.env["FLOWVAULT_WORKER_RUNS_PER_PROCESS"] = "1"
    with Gauge(cluster.settings.allow_private_hosts) as gauge:
        with TestClient(create_app(cluster.settings)) as client:
            actor = sign_up(client, "owner@example.com")
            configure(actor, gauge.host, concurrency=10)
            hook = chain_hook(actor, [hold_node("h", gauge.url, 1500)])
            ids = fire(hook, 6)
        # The app has stopped: its wake-up thread has sent all it was going to send.
        assert broker.llen(QUEUE) == 1
        assert broker.exists(PENDING_KEY)

        cluster.start_worker(3)
        statuses = wait_until(cluster, ids, all_finished, 60, "all 6 runs finished")
        assert set(statuses.values()) == {"succeeded"}, cluster.log_tail()
        assert gauge.max_in_flight == 3, cluster.log_tail()
        assert sorted(hold.n for hold in gauge.holds) == [str(n) for n in range(6)]  # each run once
    runs, _steps = load_runs(cluster.settings.resolved_database_url, ids)
    assert {run.attempts for run in runs.values()} == {1}


def test_a_warm_shutdown_stops_a_draining_process_from_claiming(cluster: Cluster) -> None:
    """SIGTERM while a pool process executes a long run with slots free: runs queued afterwards are not
    claimed by it (it would otherwise look for them twice a second), and the long run still finishes."""
    cluster.env["FLOWVAULT_WORKER_RUNS_PER_PROCESS"] = "4"
    with Gauge(cluster.settings.allow_private_hosts) as gauge:
        with TestClient(create_app(cluster.settings)) as client:
            actor = sign_up(client, "owner@example.com")
            configure(actor, gauge.host, concurrency=10)
            long_hook = chain_hook(actor, [hold_node("h", gauge.url, 4000)], name="Long")
            short_hook = chain_hook(actor, [mark_node("m", gauge.url)], name="Short")
            worker = cluster.start_worker(1)
            cluster.wait_ready()
            [long_id] = fire(long_hook, 1)
            wait_for(lambda: len(gauge.holds) == 1, 20, "the long run started", cluster)
            worker.send_signal(signal.SIGTERM)
            # Celery prints this line, then sends worker_shutting_down (what sets the processes' event).
            wait_for(lambda: "Warm shutdown" in cluster.log_tail(), 20, "the warm shutdown began", cluster)
            time.sleep(0.3)
            short_ids = fire(short_hook, 3, start=10)
            worker.wait(30)
        statuses = runs_by_status(cluster.settings.resolved_database_url, [long_id, *short_ids])
        assert statuses[long_id] == "succeeded", cluster.log_tail()
        assert [statuses[run_id] for run_id in short_ids] == ["queued"] * 3, cluster.log_tail()
        assert gauge.marks() == []
        assert [hold.aborted for hold in gauge.holds] == [False]
