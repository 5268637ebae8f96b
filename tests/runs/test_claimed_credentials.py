"""A claim reads the credentials its runs' workflows select (``runs.execute.credential_reads``): a run
of a workflow version this process knows then reads no credential on its own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flowvault.app import create_app
from flowvault.bootstrap import open_state
from flowvault.config import Settings
from flowvault.deps import AppState
from flowvault.engine.host import CredentialUnavailable
from flowvault.runs import execute
from flowvault.runs.execute import CLAIMED_CREDENTIALS, credential_reads, graphs
from flowvault.runs.host import DbRunHost
from flowvault.runs.service import Claim, claim_batch
from flowvault.secrets import service as secrets_service
from flowvault.workflows.schemas import Graph
from tests.conftest import sign_up
from tests.db.test_writes import sent_flights
from tests.runs.test_cancel_and_dlq import queue_runs, ws_url

CANARY = "claimed-canary-4f1d9b7e2a6c"


def bearer_workflow(settings: Settings) -> tuple[str, str]:
    """A workflow Manual → HTTP Request with a bearer credential; (workflow id, secret id)."""
    with TestClient(create_app(settings)) as client:
        owner = sign_up(client, "owner@example.com")
        secret = owner.post(
            ws_url(owner, "/secrets"), json={"type": "http_bearer", "name": "Upstream", "fields": {"token": CANARY}}
        )
        assert secret.status_code == 201, secret.text
        secret_id = str(secret.json()["id"])
        graph = {
            "nodes": [
                {"id": "t", "type": "manual_trigger", "name": "Start", "config": {}},
                {"id": "h", "type": "http_request", "name": "Call", "config": {
                    "method": "GET", "url": "https://api.example.com/x", "auth": "bearer", "credential_id": secret_id,
                }},
            ],
            "edges": [{"source": "t", "target": "h"}],
        }
        workflow = owner.post(ws_url(owner, "/workflows"), json={"name": "Call", "graph": graph})
        assert workflow.status_code == 201, workflow.text
        return str(workflow.json()["id"]), secret_id


async def claim_one(state: AppState, workflow_id: str, *, queue: int = 0) -> Claim:
    """Queues ``queue`` runs of the workflow, then claims one with its credential reads."""
    if queue:
        async with state.sessions() as session:
            await queue_runs(session, workflow_id, queue)
    async with state.writes() as writes:
        (claim,) = await claim_batch(writes, 1, credential_reads)
    return claim


def test_a_known_workflows_credential_comes_with_the_claim_sealed_and_is_not_read_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first run's workflow version is not known to the process yet: its claim reads nothing more
    and the run reads the credential itself. Once known, the claim reads it (on PostgreSQL in the
    claim's second flight) and the run opens it without a read of its own."""
    flights = sent_flights(monkeypatch)
    workflow_id, secret_id = bearer_workflow(settings)
    graphs._graphs.clear()

    async def scenario() -> tuple[dict[str, Any], set[str], list[list[str]], str, str, str]:
        state = await open_state(settings)
        try:
            first = await claim_one(state, workflow_id, queue=2)
            unknown = DbRunHost(state, first.run, first.allowlist, claimed=first.reads)
            read_itself = (await unknown.resolve_credential(secret_id)).fields["token"]
            assert first.workflow_version is not None
            await graphs.get(state, workflow_id, first.workflow_version)  # the process has run this version now
            flights.clear()
            second = await claim_one(state, workflow_id)
            sent = list(flights)

            async def no_read(*_: Any, **__: Any) -> None:
                raise AssertionError("the run read its credential again")

            monkeypatch.setattr(secrets_service, "sealed_secret", no_read)
            known = DbRunHost(state, second.run, second.allowlist, claimed=second.reads)
            opened = (await known.resolve_credential(secret_id)).fields["token"]
            return dict(first.reads), set(second.reads), sent, read_itself, opened, repr(second)
        finally:
            await state.engine.dispose()

    first_reads, second_reads, sent, read_itself, opened, claim = asyncio.run(scenario())
    assert first_reads == {} and second_reads == {secret_id}
    assert read_itself == opened == CANARY
    assert "ciphertext" in claim and CANARY not in claim, "the claim holds it sealed only"
    if not settings.is_sqlite:
        assert sent == [["BEGIN", "SELECT"], ["SELECT", "UPDATE", "SELECT", "COMMIT"]]


def test_a_credential_the_claim_found_no_row_for_is_read_when_its_node_runs(settings: Settings) -> None:
    """No row at the claim (created or deleted meanwhile): the run reads it itself, and a missing one
    fails as it always did."""
    workflow_id, secret_id = bearer_workflow(settings)

    async def scenario() -> str:
        state = await open_state(settings)
        try:
            claim = await claim_one(state, workflow_id, queue=1)
            host = DbRunHost(state, claim.run, claim.allowlist, claimed={secret_id: [], "gone": []})
            with pytest.raises(CredentialUnavailable):
                await host.resolve_credential("gone")
            return (await host.resolve_credential(secret_id)).fields["token"]
        finally:
            await state.engine.dispose()

    assert asyncio.run(scenario()) == CANARY


def test_credential_reads_are_those_of_known_graphs_once_each_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    nodes: list[dict[str, Any]] = [{"id": "t", "type": "manual_trigger", "name": "Start", "config": {}}]
    for number in range(CLAIMED_CREDENTIALS + 3):
        config = {"method": "GET", "url": "https://x.example", "auth": "bearer", "credential_id": f"s{number % 10}"}
        nodes.append({"id": f"h{number}", "type": "http_request", "name": f"Call {number}", "config": config})
    graph = Graph.model_validate({"nodes": nodes, "edges": []})
    monkeypatch.setattr(execute, "graphs", execute.GraphCache())
    execute.graphs._graphs.put(("wf", 3), graph)
    candidate = {"id": "r", "workspace_id": "ws", "workflow_id": "wf", "version": 3}
    assert list(credential_reads(candidate)) == [f"s{n}" for n in range(CLAIMED_CREDENTIALS)]
    assert credential_reads(candidate | {"version": 4}) == {}
    assert credential_reads(candidate | {"version": None}) == {}
