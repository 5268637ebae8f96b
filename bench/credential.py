"""Benchmark 2: credential overhead. The same HTTP Request node with and without a bearer credential,
run in this process by the real ``Executor`` against the fake upstream (a real loopback call through
the real guarded client).

The host is ``MemoryHost``: steps, audit entries and blocked requests are kept in lists instead of
the database, and ``resolve_credential`` opens an AESGCM-sealed field through the vault's
``UnwrappedKey``, as the database host does after reading the row (the key held in memory, with
what it opened, as the vault holds it). So the figure isolates what a credential adds to a run in
the engine — decrypt, redactor build and registration, header injection, the host binding check and
redacting the step with a non-empty redactor — and leaves out the two database statements and the
audit row the database host adds (counted in docs/PERFORMANCE.md). Runs go one at a time, the two
variants alternating run by run, so drift on a shared machine hits both alike; the ratio is of the
median CPU time per run (this process's), the steadiest figure on a shared machine."""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.api import webhook_graph
from bench.webhook import UPSTREAM_HOST, start_upstream
from flowvault.egress import EgressPolicy, GuardedClient
from flowvault.engine.executor import Executor
from flowvault.engine.host import CredentialUnavailable
from flowvault.engine.records import RunOutcome, StepRecord
from flowvault.nodes.sdk import HttpClient, NodeType, ResolvedCredential
from flowvault.secrets import crypto
from flowvault.secrets.vault import UnwrappedKey
from flowvault.workflows.schemas import Graph

WORKSPACE = "ws-bench"
SECRET_ID = "secret-bench"  # noqa: S105


class MemoryHost:
    """A RunHost that records in memory and resolves one sealed bearer token."""

    def __init__(self, client: GuardedClient, data_key: bytes, sealed: bytes) -> None:
        self.client = client
        self.key = UnwrappedKey(WORKSPACE, data_key, expires=math.inf)
        self.sealed = sealed
        self.steps: list[StepRecord] = []
        self.audit: list[tuple[str, str, str]] = []
        self.blocked: list[Any] = []
        self._never = asyncio.Event()

    async def resolve_credential(self, secret_id: str) -> ResolvedCredential:
        if secret_id != SECRET_ID:
            raise CredentialUnavailable()
        token = self.key.open_field(secret_id=SECRET_ID, version=1, field="token", blob=self.sealed)
        return ResolvedCredential(
            id=SECRET_ID, name="Upstream API", type="http_bearer", fields={"token": token}, hosts=(UPSTREAM_HOST,)
        )

    async def resolve_secret_by_name(self, name: str) -> ResolvedCredential:
        raise CredentialUnavailable(name)

    def http_client(self, kind: NodeType) -> HttpClient:
        return self.client

    def service_url(self, service: str) -> str:
        return f"http://{UPSTREAM_HOST}"

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def record_step(self, step: StepRecord) -> None:
        self.steps.append(step)

    async def node_starting(self) -> None:
        return None

    async def record_blocked(self, node_id: str, node_name: str, blocked: Any, redacted_url: str) -> None:
        self.blocked.append(blocked)

    async def credential_used(self, node_id: str, node_name: str, credential: ResolvedCredential) -> None:
        self.audit.append((node_id, node_name, credential.id))

    async def cancelled(self) -> bool:
        return False

    async def wait_cancelled(self) -> None:
        await self._never.wait()


def _graphs(upstream_url: str) -> dict[str, Graph]:
    return {
        "with": Graph.model_validate(webhook_graph(upstream_url, SECRET_ID)),
        "without": Graph.model_validate(webhook_graph(upstream_url.replace("/hook", "/open"), None)),
    }


def _host(client: GuardedClient, token: str) -> MemoryHost:
    data_key = crypto.new_data_key()
    sealed = crypto.seal_field(
        data_key, workspace_id=WORKSPACE, secret_id=SECRET_ID, version=1, field="token", value=token
    )
    return MemoryHost(client, data_key, sealed)


POLICY = EgressPolicy(allowed_hosts=(UPSTREAM_HOST,), exempt_private=frozenset({UPSTREAM_HOST}))
RUN_INPUT = {"order": "A-1001", "amount": 42}


async def repeat(variant: str, runs: int, upstream_url: str, token: str) -> None:
    """``runs`` runs of one variant (``bench.instructions`` counts what they execute)."""
    graph = _graphs(upstream_url)[variant]
    async with GuardedClient(POLICY) as client:
        host, executor = _host(client, token), Executor()
        for _ in range(runs):
            outcome = await executor.execute(graph, RUN_INPUT, host)
            if outcome.status != "succeeded":
                raise RuntimeError(f"{variant}: {outcome.error}")


async def _measure(runs: int, upstream_url: str, token: str) -> dict[str, Any]:
    graphs = _graphs(upstream_url)
    wall: dict[str, list[float]] = {"with": [], "without": []}
    cpu: dict[str, list[float]] = {"with": [], "without": []}
    async with GuardedClient(POLICY) as client:
        host = _host(client, token)
        executor = Executor()

        async def one(variant: str) -> RunOutcome:
            return await executor.execute(graphs[variant], RUN_INPUT, host)

        for variant in ("with", "without"):  # warm up: imports, connection, caches
            for _ in range(20):
                assert (await one(variant)).status == "succeeded"
        for number in range(runs):  # ABBA order, run by run: drift and periodic noise hit both alike
            order = ("with", "without") if number % 2 == 0 else ("without", "with")
            for variant in order:
                t0, c0 = time.perf_counter(), time.process_time()
                outcome = await one(variant)
                wall[variant].append(time.perf_counter() - t0)
                cpu[variant].append(time.process_time() - c0)
                if outcome.status != "succeeded":
                    raise RuntimeError(f"{variant}: {outcome.error}")
        redacted = host.steps[-1] if host.steps else None
        assert redacted is not None
        leaked = any(token in repr(step) for step in host.steps)
    per = {
        variant: {
            "runs": len(wall[variant]),
            "wall_median_ms": 1000 * statistics.median(wall[variant]),
            "cpu_median_ms": 1000 * statistics.median(cpu[variant]),
            "cpu_mean_ms": 1000 * statistics.fmean(cpu[variant]),
        }
        for variant in wall
    }
    return {
        "mode": "in-process Executor + MemoryHost (real crypto, redactor, guarded client, loopback upstream)",
        **per,
        "wall_ratio": per["with"]["wall_median_ms"] / per["without"]["wall_median_ms"],
        "cpu_ratio": per["with"]["cpu_median_ms"] / per["without"]["cpu_median_ms"],
        "cpu_mean_ratio": per["with"]["cpu_mean_ms"] / per["without"]["cpu_mean_ms"],
        "token_in_recorded_steps": leaked,
    }


def bench_credential(*, runs: int = 1000, log_dir: Path) -> dict[str, Any]:
    upstream = start_upstream(log_dir)
    try:
        return asyncio.run(_measure(runs, upstream.url, upstream.token))
    finally:
        upstream.child.stop()
