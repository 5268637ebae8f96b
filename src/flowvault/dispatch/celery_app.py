"""The Celery dispatcher (``FLOWVAULT_EXECUTOR=celery``, SPEC §8): ``serve`` queues runs in the database
and sends a wake-up task; ``flowvault worker`` processes claim queued runs from the database and
execute them with the same code as the embedded dispatcher.

The database is the source of truth. A message says only "work is available": the worker claims with
``claim_batch`` (oldest first, per-workspace concurrency limit, a conditional update so no run is
claimed twice), then keeps claiming until nothing is claimable. A lost message loses no run, and a
redelivered one runs nothing twice. Each worker also sends a wake-up every half lease, which picks up
runs whose worker died (their lease expired, ``runs/lease.py``) and runs no message announced.

Pool: prefork. Each child process gets one asyncio loop and one ``AppState`` (engine, vault), made by
``worker_process_init``, and runs each task to completion on that loop: the async engine and its
connections stay bound to one loop, and a child killed mid-run takes only its own run with it
(``reject_on_worker_lost`` puts its message back). ``--concurrency`` is the number of child processes,
so the number of runs a worker executes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery, signals

from flowvault.bootstrap import open_state
from flowvault.config import Settings
from flowvault.deps import AppState
from flowvault.runs.lease import execute_leased, reclaim_stale
from flowvault.runs.service import claim_batch

log = logging.getLogger("flowvault.dispatch")
WAKE_TASK = "flowvault.drain"
DRAIN_BUDGET_SECONDS = 10.0
"""A wake-up task claims runs for about this long, then hands over to a new wake-up message."""
VISIBILITY_TIMEOUT_SECONDS = 3600
"""Redis redelivers a message not acknowledged this long after delivery (its worker is gone). A
wake-up redelivered late only causes one more claim attempt; orphaned runs are found by their lease."""


def make_celery(settings: Settings) -> Celery:
    if not settings.redis_url:
        from flowvault.errors import ConfigurationError

        raise ConfigurationError(
            "FLOWVAULT_EXECUTOR=celery needs FLOWVAULT_REDIS_URL (for example redis://127.0.0.1:6379/0)."
        )
    app = Celery("flowvault", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_default_queue="flowvault",
    )
    return app


class Wakeup:
    """``AppState.run_queued`` in celery mode: sends a wake-up task without blocking the event loop."""

    def __init__(self, settings: Settings) -> None:
        self.app = make_celery(settings)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flowvault-wakeup")

    def _send(self) -> None:
        try:
            self.app.send_task(WAKE_TASK)
        except Exception as exc:  # the run is queued in the database; the workers' own wake-ups find it
            log.error("could not send a wake-up to the workers: %s", type(exc).__name__)

    def notify(self) -> None:
        self._pool.submit(self._send)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class StaleSweep:
    """When this process last looked for runs whose lease expired. Leases expire in whole lease
    periods, so a few looks per period are enough: per process, not per wake-up (a wake-up comes with
    every queued run)."""

    def __init__(self, lease_seconds: float) -> None:
        self.every = lease_seconds / 3
        self.last = -math.inf

    def due(self, now: float) -> bool:
        if now - self.last < self.every:
            return False
        self.last = now
        return True


class _Process:
    """One worker child process: its event loop, application state and stale-lease sweep."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.state: AppState = self.loop.run_until_complete(open_state(settings))
        self.sweep = StaleSweep(settings.run_lease_seconds)

    def close(self) -> None:
        self.loop.run_until_complete(self.state.egress.aclose())
        self.loop.run_until_complete(self.state.engine.dispose())
        self.loop.close()


async def drain(
    state: AppState, *, budget_seconds: float = DRAIN_BUDGET_SECONDS, sweep: StaleSweep | None = None
) -> bool:
    """Claims and executes runs until none is claimable (False) or ``budget_seconds`` have passed (True:
    there may be more; the caller sends another wake-up, so a warm shutdown waits at most this long)."""
    settings = state.settings
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + budget_seconds
    sweep = sweep or StaleSweep(settings.run_lease_seconds)
    watch = asyncio.create_task(state.cancels.run(state.sessions))
    try:
        while loop.time() < stop_at:
            if sweep.due(time.monotonic()):
                async with state.sessions() as session:
                    await reclaim_stale(
                        session, lease_seconds=settings.run_lease_seconds, max_attempts=settings.max_run_attempts
                    )
            async with state.writes() as writes:
                claims = await claim_batch(writes, 1)
            if not claims:
                return False
            await execute_leased(state, claims[0], lease_seconds=settings.run_lease_seconds)
        return True
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch


def worker_app(settings: Settings) -> Celery:
    """The Celery app ``flowvault worker`` runs: the wake-up task and the per-process state."""
    app = make_celery(settings)
    process: dict[str, _Process] = {}
    stop_ticking = threading.Event()

    @app.task(name=WAKE_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def wake() -> None:
        current = process.get("p")
        if current is None:  # solo pool: no child process was initialised
            current = process["p"] = _Process(settings)
        if current.loop.run_until_complete(drain(current.state, sweep=current.sweep)):
            app.send_task(WAKE_TASK)

    @signals.worker_process_init.connect(weak=False)
    def _init_process(**_: Any) -> None:
        process["p"] = _Process(settings)

    @signals.worker_process_shutdown.connect(weak=False)
    def _close_process(**_: Any) -> None:
        if (current := process.pop("p", None)) is not None:
            current.close()

    @signals.worker_ready.connect(weak=False)
    def _start_ticking(**_: Any) -> None:
        def tick() -> None:
            while not stop_ticking.wait(settings.run_lease_seconds / 2):
                with contextlib.suppress(Exception):
                    app.send_task(WAKE_TASK)

        app.send_task(WAKE_TASK)  # runs queued while no worker ran
        threading.Thread(target=tick, name="flowvault-tick", daemon=True).start()

    @signals.worker_shutdown.connect(weak=False)
    def _stop_ticking(**_: Any) -> None:
        stop_ticking.set()

    return app


def run_worker(settings: Settings, *, concurrency: int, loglevel: str = "INFO") -> None:
    app = worker_app(settings)
    app.worker_main(
        [
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            f"--loglevel={loglevel}",
            "-Q",
            "flowvault",
            # Unique per process, so several workers on one machine are told apart (Celery requires it).
            f"--hostname=flowvault-{os.getpid()}@%h",
        ]
    )
