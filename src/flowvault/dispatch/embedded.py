"""The embedded dispatcher: runs executed inside the ``serve`` process. One claimer claims queued runs
from the database, in batches as large as the number of idle execution slots, and starts a task for
each. Claiming through the database means runs queued before a restart, or by another process, are
picked up too; claiming in one place means the slots never race each other for the same run."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from flowvault.deps import AppState
from flowvault.runs.execute import credential_reads, execute_run
from flowvault.runs.lease import reclaim_stale
from flowvault.runs.service import Claim, claim_batch

log = logging.getLogger("flowvault.dispatch")
IDLE_POLL_SECONDS = 1.0
RESERVED_SLOTS = 2
"""Runs that start even while webhook requests are being answered (the other slots wait for a lull)."""
"""Without a wake-up (a run queued by another process), the claimer looks again after this long."""


class EmbeddedDispatcher:
    def __init__(self, state: AppState, workers: int) -> None:
        self.state = state
        self.workers = workers
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        async with self.state.sessions() as session:
            # Every run still 'running' was this process's before it stopped: its lease is over now.
            picked = await reclaim_stale(session, lease_seconds=0, max_attempts=self.state.settings.max_run_attempts)
        if picked:
            log.info("re-queued %d run(s) interrupted by the last stop", picked)
        self._tasks = [
            asyncio.create_task(self._claimer(), name="flowvault-claimer"),
            # Runs canceled from another process stop here too: the watch polls the statuses of the runs we execute.
            asyncio.create_task(self.state.cancels.run(self.state.sessions), name="flowvault-cancels"),
        ]

    def notify(self) -> None:
        self._wake.set()

    async def _claimer(self) -> None:
        while not self._stopping:
            self._wake.clear()
            free = self.workers - len(self._running)
            if self.state.hooks_in_flight:  # answering webhooks comes first: only the reserved slots start runs
                free = min(free, RESERVED_SLOTS - len(self._running))
            claims: list[Claim] = []
            if free > 0:
                try:
                    async with self.state.writes() as writes:
                        claims = await claim_batch(writes, free, credential_reads)
                except Exception:
                    log.exception("could not claim runs")
            for claim in claims:
                task = asyncio.create_task(self._execute(claim), name=f"flowvault-run-{claim.run.id}")
                self._running.add(task)
                task.add_done_callback(self._slot_freed)
            if len(claims) == free > 0:
                continue  # all slots filled: there may be more, claim again when a slot frees
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_POLL_SECONDS):  # a timer, not wait_for's task per wake-up
                    await self._wake.wait()

    async def _execute(self, claim: Claim) -> None:
        try:
            await execute_run(self.state, claim)
        except Exception:
            log.exception("run %s could not be recorded", claim.run.id)

    def _slot_freed(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        tasks = [*self._tasks, *self._running]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
