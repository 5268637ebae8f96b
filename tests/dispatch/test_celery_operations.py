"""Operating a Celery scale-out (SPEC §5 engine settings, §8): with two ``flowvault worker`` processes of two
pool processes each, on the real PostgreSQL and Redis, the workspace's concurrency limit holds across all
the pool processes; "cancel all" stops the running runs mid-node and keeps the queued ones from ever
starting; a run canceled through the app stops in the worker (another process) executing it.

The runs call ``Gauge`` (``cluster.py``), which counts the requests in flight at the same moment and sees a
worker abort a request when its run is stopped. The workers are shared by the tests of this module; each
test works in a workspace of its own. Needs ``FLOWVAULT_TEST_POSTGRES_URL`` and ``FLOWVAULT_TEST_REDIS_URL``
(``make test`` starts both)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from flowvault.app import create_app
from flowvault.engine.executor import CANCELED_IN_NODE
from tests.conftest import Actor, sign_up
from tests.dispatch.cluster import (
    Cluster,
    Gauge,
    Statuses,
    all_finished,
    chain_hook,
    configure,
    counts,
    delay_node,
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
LONG = 30
"""Seconds the nodes that get canceled would run (a slow response, a Delay)."""
STOP_WITHIN = 5.0
"""Seconds a cancel may take to stop a node in a worker (the worker polls the database every 0.5 s)."""
_owners = itertools.count(1)


@pytest.fixture
def owner(workers: Cluster) -> Iterator[Actor]:
    """The owner of a new workspace, talking to an app in celery mode (it only queues; the workers execute)."""
    with TestClient(create_app(workers.settings)) as client:
        actor = sign_up(client, f"owner{next(_owners)}@example.com")
        try:
            yield actor
        finally:  # leave no run behind for the next test, even after a failure
            actor.post(f"/api/v1/workspaces/{actor.workspace_id}/runs/cancel-all")


def steps_done(url: str, ids: list[str], node_id: str, status: str) -> int:
    _runs, steps = load_runs(url, ids)
    return sum(s.node_id == node_id and s.status == status for s in steps)


def test_workspace_concurrency_limit_holds_across_workers(workers: Cluster, owner: Actor, gauge: Gauge) -> None:
    """Concurrency 2, four pool processes: never more than 2 runs at once, and 2 at once (so the limit, not
    the number of processes, is what holds them back); every run executes exactly once."""
    configure(owner, gauge.host, concurrency=2)
    hook = chain_hook(owner, [hold_node("h", gauge.url, 500)])
    ids = fire(hook, 12, burst=True)
    most_running = 0

    def finished(statuses: Statuses) -> bool:
        nonlocal most_running
        most_running = max(most_running, list(statuses.values()).count("running"))
        return all_finished(statuses)

    statuses = wait_until(workers, ids, finished, 40, "all 12 runs finished", every=0.05)

    assert counts(statuses) == {"succeeded": 12}, workers.log_tail()
    assert gauge.max_in_flight == 2, f"{gauge.max_in_flight} requests in flight at once (limit 2)"
    assert most_running <= 2, f"{most_running} runs 'running' at once in the database (limit 2)"
    assert sorted(int(h.n) for h in gauge.holds) == list(range(12))  # each run's request once: none lost or repeated
    runs, _steps = load_runs(workers.settings.resolved_database_url, ids)
    assert {r.attempts for r in runs.values()} == {1}
    assert all(w.poll() is None for w in workers.workers)


def test_cancel_all_stops_running_runs_and_queued_ones_never_start(
    workers: Cluster, owner: Actor, gauge: Gauge
) -> None:
    """Three runs inside a slow request, five queued behind them (concurrency 3); "cancel all" through the
    app cancels all eight, the workers stop the three within seconds, the five never start, and the
    workers go on executing the runs queued afterwards."""
    url = workers.settings.resolved_database_url
    configure(owner, gauge.host, concurrency=3)
    hook = chain_hook(owner, [hold_node("h", gauge.url, "{{trigger.ms}}"), mark_node("m", gauge.url)])
    ids = fire(hook, 8, ms=LONG * 1000)
    wait_for(lambda: gauge.in_flight == 3, 30, "3 runs inside their slow request", workers)
    before = runs_by_status(url, ids)
    assert counts(before) == {"queued": 5, "running": 3}
    running = [i for i, s in before.items() if s == "running"]
    queued = [i for i, s in before.items() if s == "queued"]

    canceled = owner.post(f"/api/v1/workspaces/{owner.workspace_id}/runs/cancel-all")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json() == {"canceled_queued": 5, "canceled_running": 3}
    assert counts(runs_by_status(url, ids)) == {"canceled": 8}
    # The workers (other processes) stop the three nodes mid-request: they drop the connections and record
    # the steps as canceled, long before the responses would have come.
    took = wait_for(lambda: steps_done(url, running, "h", "canceled") == 3, STOP_WITHIN, "3 runs stopped", workers)
    wait_for(lambda: sum(h.aborted for h in gauge.holds) == 3, STOP_WITHIN, "3 requests aborted", workers)
    assert took < STOP_WITHIN < LONG

    # The workers stay healthy and claim again; the canceled queued runs, older than these, are never claimed.
    after = fire(hook, 4, start=100, ms=200)
    done = wait_until(workers, after, all_finished, 30, "the runs queued after the cancel finished")
    assert counts(done) == {"succeeded": 4}, workers.log_tail()

    holds = gauge.holds
    assert len(holds) == 7 and sum(h.aborted for h in holds) == 3, holds
    assert sorted(int(h.n) for h in holds if not h.aborted) == [100, 101, 102, 103]  # none of the queued 5 started
    assert sorted(gauge.marks()) == [f"n=m-{n}" for n in (100, 101, 102, 103)]  # no canceled run went on
    runs, steps = load_runs(url, ids)
    for run_id in queued:
        assert runs[run_id].started_at is None and runs[run_id].attempts == 0
        assert not [s for s in steps if s.run_id == run_id]
    for run_id in running:
        assert "cancel all" in (runs[run_id].error or "")
        (step,) = [s for s in steps if s.run_id == run_id and s.node_id == "h"]
        assert step.error == CANCELED_IN_NODE and step.duration_ms < LONG * 1000
        assert not [s for s in steps if s.run_id == run_id and s.node_id == "m"]
    assert all(w.poll() is None for w in workers.workers)


def test_run_canceled_through_the_app_stops_in_its_worker(workers: Cluster, owner: Actor, gauge: Gauge) -> None:
    """Four runs in a long Delay keep all four pool processes busy. Canceling one through the app (another
    process) stops it in its worker within seconds; the others go on, and the freed process takes the next
    run (each pool process executes one run at a time, so the next run could not start otherwise)."""
    url = workers.settings.resolved_database_url
    ws = owner.workspace_id
    configure(owner, gauge.host, concurrency=5)
    hook = chain_hook(owner, [mark_node("a", gauge.url), delay_node("d", "{{trigger.wait}}"),
                              mark_node("b", gauge.url)])
    ids = fire(hook, 4, wait=LONG)
    wait_for(lambda: steps_done(url, ids, "a", "succeeded") == 4, 30, "4 runs past their first node", workers)
    time.sleep(0.5)  # not an assertion: lets the workers get into the Delay node (they are there within ms)
    target, others = ids[0], ids[1:]

    canceled = owner.post(f"/api/v1/workspaces/{ws}/runs/{target}/cancel")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    took = wait_for(lambda: steps_done(url, [target], "d", "canceled") == 1, STOP_WITHIN, "the run stopped", workers)
    assert took < STOP_WITHIN < LONG
    assert counts(runs_by_status(url, others)) == {"running": 3}  # only the canceled run stopped

    (quick,) = fire(hook, 1, start=4, wait=0)
    assert counts(wait_until(workers, [quick], all_finished, 20, "the next run finished")) == {"succeeded": 1}
    assert counts(runs_by_status(url, others)) == {"running": 3}

    runs, steps = load_runs(url, ids)
    (step,) = [s for s in steps if s.run_id == target and s.node_id == "d"]
    assert step.error == CANCELED_IN_NODE and step.duration_ms < LONG * 1000
    assert runs[target].error == f"Canceled by {owner.email}."
    assert sorted(gauge.marks()) == ["n=a-0", "n=a-1", "n=a-2", "n=a-3", "n=a-4", "n=b-4"]  # the canceled run: no b

    # The other three stop too (the owner fixture's cancel-all would do it as well; here it is checked).
    rest = owner.post(f"/api/v1/workspaces/{ws}/runs/cancel-all")
    assert rest.json() == {"canceled_queued": 0, "canceled_running": 3}, rest.text
    wait_for(lambda: steps_done(url, others, "d", "canceled") == 3, STOP_WITHIN, "the other runs stopped", workers)
