"""Executes one claimed run with the shared executor; used by every dispatcher."""

from __future__ import annotations

import logging

from sqlalchemy import select

from flowvault.deps import AppState
from flowvault.engine.executor import Executor
from flowvault.engine.records import RunOutcome
from flowvault.lru import LRU
from flowvault.runs.host import DbRunHost
from flowvault.runs.service import Claim, finish_run
from flowvault.workflows.models import Workflow
from flowvault.workflows.schemas import Graph

log = logging.getLogger("flowvault.runs")
DELETED = "The workflow was deleted before the run started."


class GraphCache:
    """Parsed workflow graphs by (workflow id, version): a version's graph never changes, every save
    makes a new version. Bounded; shared by the runs of a process."""

    def __init__(self, size: int = 256) -> None:
        self._graphs: LRU[tuple[str, int], Graph] = LRU(size)

    async def get(self, state: AppState, workflow_id: str, version: int) -> Graph | None:
        graph = self._graphs.get((workflow_id, version))
        if graph is not None:
            return graph
        async with state.reads() as session:
            stored = await session.scalar(
                select(Workflow.graph).where(Workflow.id == workflow_id, Workflow.version == version)
            )
        return None if stored is None else self._graphs.put((workflow_id, version), Graph.model_validate(stored))


graphs = GraphCache()


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
    host = DbRunHost(state, run, claim.allowlist)
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
