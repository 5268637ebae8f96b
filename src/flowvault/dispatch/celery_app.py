"""The Celery dispatcher (``FLOWVAULT_EXECUTOR=celery``, SPEC §8): ``serve`` queues runs in the database
and sends a wake-up task; ``flowvault worker`` processes claim queued runs from the database and
execute them with the same code as the embedded dispatcher.

The database is the source of truth. A message says only "work is available": the worker claims with
``claim_batch`` (oldest first, per-workspace concurrency limit, a conditional update so no run is
claimed twice), then keeps claiming until nothing is claimable. A lost message loses no run, and a
redelivered one runs nothing twice. Each worker also sends a wake-up every half lease, which picks up
runs whose worker died (their lease expired, ``runs/lease.py``) and runs no message announced.

So one waiting wake-up is enough (``pending.py``): a queued run sends one only when none is waiting. A
worker whose claim leaves queued runs behind sends one too, so an idle pool process (of this worker or
another) joins in on a backlog.

Pool: prefork. Each child process gets one asyncio loop and one ``AppState`` (engine, vault), made by
``worker_process_init``, and runs each task to completion on that loop: the async engine and its
connections stay bound to one loop, and a child killed mid-run takes only its own runs with it
(``reject_on_worker_lost`` puts its message back; the runs' leases run out). ``--concurrency`` is the
number of child processes; each executes up to ``FLOWVAULT_WORKER_RUNS_PER_PROCESS`` runs at once on
its loop, as ``serve`` does on the embedded default: a run mostly waits on the network, and one
process waiting on many runs wakes up far less often per run than many processes waiting on one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from celery import Celery, signals

from flowvault.bootstrap import open_state
from flowvault.config import Settings
from flowvault.deps import AppState
from flowvault.dispatch.pending import PendingWakeup
from flowvault.redaction import install_log_redaction
from flowvault.runs.execute import credential_reads
from flowvault.runs.lease import execute_leased, reclaim_stale
from flowvault.runs.service import Claim, claim_and_look

log = logging.getLogger("flowvault.dispatch")
WAKE_TASK = "flowvault.drain"
DRAIN_BUDGET_SECONDS = 10.0
"""A wake-up task that has drained this long hands over to a new wake-up message the next time none
of its runs is executing (its message is acknowledged)."""
CLAIM_POLL_SECONDS = 0.5
"""While a process has runs executing and slots free, it looks for newly queued runs this often: their
wake-up cannot reach it (a pool process takes its next message only when its drain returns)."""
BATCH_SECONDS = 0.02
"""While runs are queued behind its own, a process claims once half its slots are free, or this long
after a slot freed: a claim pass costs two round trips to the database whatever number it claims."""
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


def pending_wakeup(settings: Settings) -> PendingWakeup:
    assert settings.redis_url  # make_celery refused to start without one
    # Expired, the flag costs one wake-up more; the workers' periodic wake-ups come every half lease.
    return PendingWakeup(settings.redis_url, expire_seconds=settings.run_lease_seconds / 2)


def send_wakeup(app: Celery, pending: PendingWakeup) -> bool:
    """Sends a wake-up unless one is already waiting for a worker; True if this call sent it."""
    if not pending.reserve():
        return False
    try:
        app.send_task(WAKE_TASK)
    except BaseException:
        pending.clear()
        raise
    return True


def ask_for_wakeup(app: Celery, pending: PendingWakeup) -> None:
    """``send_wakeup``, logging a failure instead of raising it: the run is queued in the database, and
    the workers' periodic wake-ups (and the runs queued next) ask again."""
    try:
        send_wakeup(app, pending)
    except Exception as exc:
        log.error("could not send a wake-up to the workers: %s", type(exc).__name__)


class Wakeup:
    """``AppState.run_queued`` in celery mode: asks for a wake-up (``ask_for_wakeup``) without blocking the
    event loop. Runs queued while an ask is still waiting for the thread share it: it starts after they
    were committed."""

    def __init__(self, settings: Settings) -> None:
        self.app = make_celery(settings)
        self.pending = pending_wakeup(settings)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flowvault-wakeup")
        self._asked = False

    def _send(self) -> None:
        self._asked = False  # a run queued from now on asks again
        ask_for_wakeup(self.app, self.pending)

    def notify(self) -> None:
        if self._asked:
            return
        self._asked = True
        self._pool.submit(self._send)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.pending.close()


class StaleSweep:
    """When this process last looked for runs whose lease expired. Leases expire in whole lease
    periods, so a few looks per period are enough: per process, not per claim."""

    def __init__(self, lease_seconds: float) -> None:
        self.every = lease_seconds / 3
        self.last = -math.inf

    def due(self, now: float) -> bool:
        if now - self.last < self.every:
            return False
        self.last = now
        return True


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed (``uvicorn[standard]`` brings it, and serve runs on it), as
    uvicorn chooses; else asyncio's. A worker process spends a good part of its time in the loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class _Process:
    """One worker child process: its event loop, application state and stale-lease sweep."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = new_event_loop()
        asyncio.set_event_loop(self.loop)
        # Celery has configured this process's logging by now: its handlers mask the secrets of the runs
        # executing here, as serve's do (a library's DEBUG line can hold a response header, a URL...).
        install_log_redaction()
        self.state: AppState = self.loop.run_until_complete(open_state(settings))
        self.sweep = StaleSweep(settings.run_lease_seconds)
        self.pending = pending_wakeup(settings)

    def took_wakeup(self) -> None:
        try:
            self.pending.clear()
        except Exception as exc:  # the flag expires; this wake-up still claims
            log.error("could not clear the pending wake-up flag: %s", type(exc).__name__)

    def close(self) -> None:
        self.loop.run_until_complete(self.state.egress.aclose())
        self.loop.run_until_complete(self.state.engine.dispose())
        self.loop.close()
        self.pending.close()


async def drain(
    state: AppState,
    *,
    slots: int = 1,
    budget_seconds: float = DRAIN_BUDGET_SECONDS,
    stopping: Callable[[], bool] = lambda: False,
    sweep: StaleSweep | None = None,
    on_backlog: Callable[[], object] | None = None,
) -> bool:
    """Claims runs and executes up to ``slots`` of them at once on this loop. Claims again when a run
    finishes (while runs are queued behind its own: once half the slots are free, or ``BATCH_SECONDS``
    after the first one freed), and every ``CLAIM_POLL_SECONDS`` while a slot is free. Returns False when
    none is executing and none is claimable; True (there may be more: the caller sends another wake-up) once
    ``budget_seconds`` have passed and none is executing, or once ``stopping()`` (a warm shutdown: it
    claims no more and finishes the runs it executes).
    ``on_backlog`` is called once, at the first claim that left queued runs behind: another process
    could execute them meanwhile."""
    settings = state.settings
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + budget_seconds
    sweep = sweep or StaleSweep(settings.run_lease_seconds)
    running: set[asyncio.Task[None]] = set()
    slot_freed = asyncio.Event()

    def freed(task: asyncio.Task[None]) -> None:
        running.discard(task)
        slot_freed.set()

    async def freeing(wanted: int) -> None:
        while slots - len(running) < wanted:
            slot_freed.clear()
            await slot_freed.wait()

    watch = asyncio.create_task(state.cancels.run(state.sessions))
    tell_backlog = on_backlog
    backlog = False
    try:
        while not stopping() and (running or loop.time() < stop_at):
            slot_freed.clear()
            if free := slots - len(running):
                if sweep.due(time.monotonic()):
                    async with state.sessions() as session:
                        await reclaim_stale(
                            session, lease_seconds=settings.run_lease_seconds, max_attempts=settings.max_run_attempts
                        )
                async with state.writes() as writes:
                    claims, backlog = await claim_and_look(writes, free, credential_reads)
                if backlog and tell_backlog is not None:
                    tell_backlog()
                    tell_backlog = None
                for claim in claims:
                    task = asyncio.create_task(_execute(state, claim), name=f"flowvault-run-{claim.run.id}")
                    running.add(task)
                    task.add_done_callback(freed)
            if not running:
                return False
            with contextlib.suppress(TimeoutError):  # with a slot free, look again soon anyway
                async with asyncio.timeout(None if len(running) == slots else CLAIM_POLL_SECONDS):
                    await slot_freed.wait()
            if backlog:  # more are queued: gather a few free slots for the next pass
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(BATCH_SECONDS):
                        await freeing(max(1, slots // 2))
        if running:
            await asyncio.wait(running)
        return True
    finally:
        for task in [*running, watch]:
            task.cancel()
        for task in [*running, watch]:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _execute(state: AppState, claim: Claim) -> None:
    try:
        await execute_leased(state, claim, lease_seconds=state.settings.run_lease_seconds)
    except Exception:  # the run's lease runs out and it is retried; the other runs go on
        log.exception("run %s could not be recorded", claim.run.id)


def worker_app(settings: Settings) -> Celery:
    """The Celery app ``flowvault worker`` runs: the wake-up task and the per-process state."""
    app = make_celery(settings)
    process: dict[str, _Process] = {}
    stop_ticking = threading.Event()
    # Made before the pool forks its processes, so all of them share it: set when a warm shutdown begins,
    # it makes their drains stop claiming (the parent cannot tell a process that is executing a task).
    shutting_down = multiprocessing.get_context("fork").Event()

    @app.task(name=WAKE_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def wake() -> None:
        current = process.get("p")
        if current is None:  # solo pool: no child process was initialised
            current = process["p"] = _Process(settings)
        current.took_wakeup()
        ask = partial(ask_for_wakeup, app, current.pending)
        runs = drain(
            current.state,
            slots=settings.worker_runs_per_process,
            stopping=shutting_down.is_set,
            sweep=current.sweep,
            on_backlog=ask,
        )
        if current.loop.run_until_complete(runs):
            ask()

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

        app.send_task(WAKE_TASK)  # runs queued while no worker ran; like the ticks, sent whatever the flag says
        threading.Thread(target=tick, name="flowvault-tick", daemon=True).start()

    @signals.worker_shutting_down.connect(weak=False)
    def _stop_claiming(**_: Any) -> None:
        shutting_down.set()

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
