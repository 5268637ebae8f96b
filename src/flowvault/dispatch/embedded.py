"""The embedded dispatcher: worker tasks inside the ``serve`` process that claim queued runs from
the database and execute them. Claiming through the database means runs queued before a restart,
or by another process, are picked up too."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from flowvault.deps import AppState
from flowvault.runs.execute import execute_run
from flowvault.runs.lease import reclaim_stale
from flowvault.runs.service import claim_next

log = logging.getLogger("flowvault.dispatch")
IDLE_POLL_SECONDS = 1.0


class EmbeddedDispatcher:
    def __init__(self, state: AppState, workers: int) -> None:
        self.state = state
        self.workers = workers
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        async with self.state.sessions() as session:
            # Every run still 'running' was this process's before it stopped: its lease is over now.
            picked = await reclaim_stale(session, lease_seconds=0, max_attempts=self.state.settings.max_run_attempts)
        if picked:
            log.info("re-queued %d run(s) interrupted by the last stop", picked)
        self._tasks = [asyncio.create_task(self._worker(n), name=f"flowvault-worker-{n}") for n in range(self.workers)]
        # Runs canceled from another process stop here too: the watch polls the statuses of the runs we execute.
        self._tasks.append(asyncio.create_task(self.state.cancels.run(self.state.sessions), name="flowvault-cancels"))

    def notify(self) -> None:
        self._wake.set()

    async def _worker(self, number: int) -> None:
        while not self._stopping:
            try:
                async with self.state.sessions() as session:
                    run = await claim_next(session)
            except Exception:
                log.exception("worker %d could not claim a run", number)
                run = None
            if run is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL_SECONDS)
                continue
            self._wake.set()  # there may be more: let an idle worker look too
            await execute_run(self.state, run)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
