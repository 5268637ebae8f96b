"""Executes one claimed run with the shared executor; used by every dispatcher."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from flowvault.db.compiled import Bound
from flowvault.deps import AppState
from flowvault.engine.executor import Executor
from flowvault.engine.records import RunOutcome
from flowvault.lru import LRU
from flowvault.nodes.registry import node_type
from flowvault.runs.host import DbRunHost
from flowvault.runs.service import Claim, finish_run
from flowvault.secrets.service import sealed_secret_read
from flowvault.workflows.models import Workflow
from flowvault.workflows.schemas import Graph

log = logging.getLogger("flowvault.runs")
DELETED = "The workflow was deleted before the run started."


class GraphCache:
    """Parsed workflow graphs by (workflow id, version): a version's graph never changes, every save
    makes a new version. Bounded; shared by the runs of a process."""

    def __init__(self, size: int = 256) -> None:
        self._graphs: LRU[tuple[str, int], Graph] = LRU(size)

    def known(self, workflow_id: str, version: int) -> Graph | None:
        """The graph if this process has it already (no database read)."""
        return self._graphs.get((workflow_id, version))

    async def get(self, state: AppState, workflow_id: str, version: int) -> Graph | None:
        graph = self.known(workflow_id, version)
        if graph is not None:
            return graph
        async with state.reads() as session:
            stored = await session.scalar(
                select(Workflow.graph).where(Workflow.id == workflow_id, Workflow.version == version)
            )
        return None if stored is None else self._graphs.put((workflow_id, version), Graph.model_validate(stored))


graphs = GraphCache()
CLAIMED_CREDENTIALS = 8
"""Credentials of a run read with its claim, at most (more are read when their nodes run)."""


def credential_reads(candidate: Mapping[str, Any]) -> dict[str, Bound]:
    """The credentials the nodes of a candidate run's workflow select, to read with its claim: a run
    whose workflow version this process has run before then reads no credential on its own (a round
    trip fewer on PostgreSQL). What is read is sealed; it is opened when the node runs. The value a
    node uses is then the one of the claim's moment, milliseconds before the node's: a change made
    meanwhile reaches the next run, as one made a moment after the node's read would."""
    version = candidate["version"]
    graph = graphs.known(candidate["workflow_id"], version) if version is not None else None
    if graph is None:
        return {}
    reads: dict[str, Bound] = {}
    for node in graph.nodes:
        kind = node_type(node.type)
        secret_id = kind.credential_id(node.config) if kind is not None else None
        if secret_id is not None and secret_id not in reads and len(reads) < CLAIMED_CREDENTIALS:
            reads[secret_id] = sealed_secret_read(workspace_id=candidate["workspace_id"], secret_id=secret_id)
    return reads


async def _graph(state: AppState, workflow_id: str, version: int | None) -> Graph | None:
    """The graph of the workflow's current version (which a save may change until the run loads it)."""
    for _ in range(3):
        if version is None:
            return None
        graph = await graphs.get(state, workflow_id, version)
        if graph is not None:
            return graph
        async with state.reads() as session:
            version = await session.scalar(select(Workflow.version).where(Workflow.id == workflow_id))
    return None


async def execute_run(state: AppState, claim: Claim) -> RunOutcome:
    """Runs the claimed run to its end and records the outcome (unless another attempt took it over)."""
    run = claim.run
    host = DbRunHost(state, run, claim.allowlist, claimed=claim.reads)
    graph = await _graph(state, run.workflow_id, claim.workflow_version)
    if graph is None:
        outcome = RunOutcome("failed", DELETED)
    else:
        with state.cancels.watching(run.id) as canceled:
            host.canceled = canceled
            try:
                outcome = await Executor().execute(graph, run.input, host)
            except Exception as exc:
                log.error("run %s crashed: %s", run.id, type(exc).__name__)
                outcome = RunOutcome("failed", f"The engine failed: {type(exc).__name__}. See the server log.")
            finally:
                await host.settle()
    if not await finish_run(
        state.writes, run_id=run.id, attempt=run.attempts, outcome=outcome, pending=host.write_pending
    ):
        log.warning("run %s: attempt %d ended after another attempt took the run over", run.id, run.attempts)
    return outcome
