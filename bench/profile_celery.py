"""Profile a Celery worker: ``python -m bench.profile_celery [--n N] [--target worker|serve] [--out FILE]``.

Runs benchmark 1c's 1-worker mode (throwaway PostgreSQL and Redis, ``flowvault worker --concurrency 1``
executing 8 runs at once, pinned to one core) with ``py-spy record --subprocesses`` attached to the
worker's process tree for the measured load and the drain after it, and prints where the samples
went (``bench.flame``). py-spy samples threads that are not idle, and counts a process that waits
for its core (the worker shares one with its child) as busy in the frame it was preempted in: read
the shares of the ``flowvault``, ``celery``, ``kombu`` and ``billiard`` frames, not the leaf frames of socket calls."""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench import celery_mode, flame, load, servers
from bench.profile import py_spy

SAMPLES_PER_SECOND = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="webhook requests during the profile (multiple of 20)")
    parser.add_argument("--out", type=Path, default=None, help="collapsed stacks file (default: a temporary file)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--target", choices=("worker", "serve"), default="worker",
                        help="the worker's process tree, or serve (which accepts and queues the runs)")
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="flowvault-profile-celery-"))
    out = args.out or log_dir / "worker.txt"
    spy = py_spy()
    workers: list[int] = []
    serve: list[int] = []
    start_worker, run_hey, start = celery_mode.start_worker, load.run_hey, servers.start

    def recorded_start(name: str, *a: Any, **k: Any) -> servers.Child:
        child = start(name, *a, **k)
        if name.endswith("-serve"):
            serve.append(child.pid)
        return child

    def recorded_worker(*a: Any, **k: Any) -> Any:
        child = start_worker(*a, **k)
        workers.append(child.pid)
        return child

    def recorded_load(url: str, *, n: int, concurrency: int, body: str, timeout_s: float = 600.0) -> load.LoadResult:
        if n != args.n:  # the warm-up
            return run_hey(url, n=n, concurrency=concurrency, body=body, timeout_s=timeout_s)
        # The load and the drain after it: ~200 runs/s for 1 worker on the 2-core machine, and margin.
        seconds = str(int(n / 150) + 3)
        target = (serve if args.target == "serve" else workers)[0]
        recorder = subprocess.Popen(  # noqa: S603
            [spy, "record", "--subprocesses", "--nonblocking", "-p", str(target), "-r", str(SAMPLES_PER_SECOND),
             "-f", "raw", "-o", str(out), "-d", seconds],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            return run_hey(url, n=n, concurrency=concurrency, body=body, timeout_s=timeout_s)
        finally:
            recorder.wait(120)

    celery_mode.start_worker, servers.start = recorded_worker, recorded_start
    setattr(celery_mode, "run_hey", recorded_load)  # noqa: B010 - celery_mode's import of bench.load's
    celery_mode.check_tools()
    with celery_mode.throwaway_services(log_dir) as services:
        result = celery_mode.bench_mode(
            services, name="profile", index=0, workers=1, worker_concurrency=1, n=args.n, concurrency=20,
            warmup=200, log_dir=log_dir, completion_timeout=120, pin=True,
        )
    print(f"CPU per run (ms): {result['cpu_ms_per_run']}; finished in time: {result['finished_in_time']}")
    stacks = flame.load(out)
    print(f"{sum(count for _, count in stacks)} samples in {out}")
    for kind, rows in flame.summarize(stacks, args.top).items():
        print(f"\n-- {kind} --")
        for name, count, share in rows:
            print(f"{share:6.1f}%  {count:7d}  {name}")


if __name__ == "__main__":
    main()
