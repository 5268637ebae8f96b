"""What a Celery worker writes to its log while it executes runs (SPEC §7: no secret value in any log, in
any encoding), at its most talkative log level: the runs use a bearer credential and a secret in the
request's URL (``{{secrets.NAME}}`` in the query), which the service also sends back in a redirect's
``Location`` header, so the libraries the worker calls out through see both (httpcore logs the response
headers at DEBUG).
Needs ``FLOWVAULT_TEST_POSTGRES_URL`` and ``FLOWVAULT_TEST_REDIS_URL`` (``make test`` starts both)."""

from __future__ import annotations

from uuid import uuid4

from fastapi.testclient import TestClient

from flowvault.app import create_app
from flowvault.redaction import derived_forms
from tests.conftest import sign_up
from tests.dispatch.cluster import Cluster, all_finished, chain_hook, configure, fire, needs_cluster, wait_until
from tests.fakes import FakeEcho
from tests.runs.conftest import secret

pytestmark = needs_cluster


def test_a_worker_logs_no_secret_of_the_runs_it_executes(cluster: Cluster, fake_echo: FakeEcho) -> None:
    bearer = f"canary-worker-bearer-{uuid4().hex}"
    query_key = f"canary-worker-query-{uuid4().hex}"
    cluster.start_worker(1, loglevel="DEBUG")
    with TestClient(create_app(cluster.settings)) as client:
        actor = sign_up(client, "owner@example.com")
        configure(actor, fake_echo.host, concurrency=4)
        bearer_id = secret(actor, "http_bearer", "Echo API", token=bearer)
        secret(actor, "http_bearer", "Query Key", token=query_key)
        hook = chain_hook(actor, [{
            "id": "h", "type": "http_request", "name": "Fetch",
            "config": {"method": "GET", "url": f"{fake_echo.url}/redirect", "auth": "bearer",
                       "credential_id": bearer_id, "query": {"to": "/echo?key={{secrets.Query Key}}&n={{trigger.n}}"}},
        }])
        ids = fire(hook, 3)
        statuses = wait_until(cluster, ids, all_finished, 60, "the 3 runs finished")
    assert set(statuses.values()) == {"succeeded"}, cluster.log_tail()
    arrived = fake_echo.requests_to("/echo")
    assert len(arrived) == 3 and all(r.headers["authorization"] == f"Bearer {bearer}" for r in arrived)
    assert all(f"key={query_key}" in r.query for r in arrived)  # the secrets did go out

    logs = "\n".join(path.read_text(errors="replace") for path in sorted(cluster.logs.glob("worker-*.log")))
    assert "receive_response_headers.complete" in logs, "the log level let the libraries talk"
    assert "/echo?key=[REDACTED:Query Key]" in logs, "the redirect's Location header was logged, masked"
    for value in (bearer, query_key):
        leaked = [form for form in derived_forms(value) if form in logs]
        assert not leaked, f"the worker's log holds {len(leaked)} form(s) of a secret"
