"""Executes one claimed run with the shared executor; used by every dispatcher."""

from __future__ import annotations

import logging

from flowvault.deps import AppState
from flowvault.engine.executor import Executor
from flowvault.engine.records import RunOutcome
from flowvault.runs.host import DbRunHost
from flowvault.runs.models import Run
from flowvault.runs.service import finish_run, workspace_settings
from flowvault.workflows.models import Workflow
from flowvault.workflows.schemas import Graph

log = logging.getLogger("flowvault.runs")


async def execute_run(state: AppState, run: Run) -> RunOutcome:
    async with state.sessions() as session:
        workflow = await session.get(Workflow, run.workflow_id)
        settings = await workspace_settings(session, run.workspace_id)
        allowlist = tuple(str(h) for h in settings.egress_allowlist)
        await session.commit()
    if workflow is None:
        outcome = RunOutcome("failed", "The workflow was deleted before the run started.")
    else:
        with state.cancels.watching(run.id) as canceled:
            host = DbRunHost(state, run, allowlist, canceled)
            try:
                outcome = await Executor().execute(Graph.model_validate(workflow.graph), run.input, host)
            except Exception as exc:
                log.error("run %s crashed: %s", run.id, type(exc).__name__)
                outcome = RunOutcome("failed", f"The engine failed: {type(exc).__name__}. See the server log.")
            finally:
                await host.aclose()
    async with state.sessions() as session:
        await finish_run(session, run_id=run.id, outcome=outcome)
    return outcome
