"""Benchmark 2 counted in instructions: the credential's overhead as a figure the machine's load does not move.

CPU time per run moves with whatever else runs on a shared machine (the same code's median moved by
±15 % between runs minutes apart here). The number of instructions a run executes hardly does:
the same process repeated counts the same to within ~0.01 %. ``valgrind --tool=callgrind`` counts
them. Each variant of benchmark 2 (the HTTP Request node with and without its bearer credential, in
process, against the loopback upstream) runs in two processes, of N and of 2N runs; the difference
of their counts over N is the count per run, without the start-up. Instructions are not time (a
cache miss or a system call's wait costs none), so this complements the timed ratio; it tells
apart changes of a few microseconds that the timed ratio cannot.

    python -m bench.instructions [--runs N]        (valgrind: Debian's package, apt-get install -y valgrind)

``count_worker`` counts a Celery worker process's work per run the same way (benchmark 1c, on its
throwaway PostgreSQL): a process drains a queue of N, another of 2N runs of Webhook → HTTP Request
(no credential) with ``dispatch.celery_app.drain`` on the worker's own event loop, one run at a
time: claim, execute, finish. Its timed figures move by ±20 % between runs here; this count repeats
to within a few per cent (timers and polls of a run that takes longer under valgrind add some). Only this
process's user-space instructions are counted: PostgreSQL's and the kernel's work are not.

``count_serve`` (``python -m bench.instructions --serve [--runs N]``, not part of ``make bench``: ~2 min)
counts ``flowvault serve``'s whole run path on its embedded default: the webhook's HTTP request, the
queue, the claim, the run and its finish, webhooks one after another. Its periodic work (the
scheduler's tick, the cancel watch, the dispatcher's idle poll) is made 50 times less frequent
(``bench.experiments`` ``slow_timers``), as often per run as at full speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench import servers
from bench.api import set_up_webhook_flow, webhook_graph
from bench.credential import repeat
from bench.webhook import BODY, UPSTREAM_HOST, Upstream, flowvault_env, start_flowvault, start_upstream

VARIANTS = ("with", "without")
TIMEOUT_SECONDS = 900.0
"""A counting process that takes longer is stopped (by its pid); at N=200 they take 1-2 min."""
VALGRIND_SLOWDOWN = 50
_COLLECTED = re.compile(r"Collected : (\d+)")
COUNTED_TOKEN = "bench-upstream-counted-7KqP2xV9mR4tW8yZ3nB6cD1f"  # noqa: S105 - the fake upstream's
"""The same token every time: the redactor's search (and so its count) depends on the value's characters."""


def valgrind() -> str | None:
    return shutil.which("valgrind")


def _count(processes: list[tuple[str, int, subprocess.Popen[bytes], Path]]) -> dict[tuple[str, int], int]:
    counts: dict[tuple[str, int], int] = {}
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        for variant, runs, process, log in processes:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
            counts[(variant, runs)] = _collected(process, log, f"{variant} x {runs}")
    finally:
        for *_, process, _log in processes:
            if process.poll() is None:
                process.kill()  # by its own pid
                process.wait()
    return counts


Counted = tuple[str, int, "subprocess.Popen[bytes]", Path]
"""(variant, runs, its process under callgrind, its log)"""
SKIPPED = {"skipped": "valgrind is not installed (apt-get install -y valgrind)"}


def _collected(process: subprocess.Popen[bytes], log: Path, what: str, *, exits: tuple[int, ...] = (0,)) -> int:
    """The instructions callgrind reported in ``log`` as ``process`` (exited with one of ``exits``) ended."""
    found = _COLLECTED.findall(log.read_text())
    if process.returncode not in exits or not found:
        raise RuntimeError(f"counting {what} failed (exit {process.returncode}); see {log}")
    return int(found[-1])


def _counted(
    tool: str, log: Path, arguments: list[str], env: dict[str, str], module: str = "bench.instructions"
) -> subprocess.Popen[bytes]:
    """``python -m <module> <arguments>`` under callgrind, started; its output goes to ``log``."""
    argv = [tool, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m", module, *arguments]
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=out)  # noqa: S603 - fixed argv


def _counts(log_dir: Path, start: Callable[[str, Upstream], list[Counted]]) -> dict[tuple[str, int], int] | None:
    """The counts of the processes ``start(valgrind, upstream)`` starts beside the fake upstream (with
    the fixed token); None without valgrind."""
    tool = valgrind()
    if tool is None:
        return None
    upstream = start_upstream(log_dir, token=COUNTED_TOKEN)
    try:
        return _count(start(tool, upstream))
    finally:
        upstream.child.stop()


def count_credential(*, runs: int, log_dir: Path) -> dict[str, Any]:
    """Instructions per run of each variant, and their ratio."""

    def start(tool: str, upstream: Upstream) -> list[Counted]:
        env = {**os.environ, "PYTHONHASHSEED": "0", "BENCH_UPSTREAM_URL": upstream.url,
               "BENCH_UPSTREAM_TOKEN": upstream.token}
        processes = []
        for variant in VARIANTS:
            for count in (runs, 2 * runs):
                log = log_dir / f"callgrind-{variant}-{count}.log"
                processes.append((variant, count, _counted(tool, log, ["--child", variant, str(count)], env), log))
        return processes

    counts = _counts(log_dir, start)
    if counts is None:
        return dict(SKIPPED)
    per_run = {variant: (counts[(variant, 2 * runs)] - counts[(variant, runs)]) / runs for variant in VARIANTS}
    version = subprocess.run(["valgrind", "--version"], capture_output=True, text=True, check=False)  # noqa: S607
    return {
        "tool": f"{version.stdout.strip()} --tool=callgrind",
        "runs": runs,
        "instructions_per_run": per_run,
        "ratio": per_run["with"] / per_run["without"],
        "overhead_per_run": per_run["with"] - per_run["without"],
    }


def count_worker(*, runs: int, database_url: Callable[[str], str], createdb: Callable[[str], None],
                 log_dir: Path) -> dict[str, Any]:
    """Instructions per run of a worker's drain. ``database_url(name)``: the URL of database ``name``,
    made by ``createdb(name)`` (benchmark 1c's throwaway PostgreSQL)."""

    data_dirs: list[Path] = []

    def start(tool: str, upstream: Upstream) -> list[Counted]:
        processes = []
        for count in (runs, 2 * runs):
            name = f"counted_worker_{count}"
            createdb(name)
            data_dirs.append(Path(tempfile.mkdtemp(prefix="flowvault-counted-")))
            env = {**os.environ, "PYTHONHASHSEED": "0", "FLOWVAULT_DATABASE_URL": database_url(name),
                   "FLOWVAULT_DATA_DIR": str(data_dirs[-1]),
                   "FLOWVAULT_ALLOW_PRIVATE_HOSTS": UPSTREAM_HOST}
            subprocess.run([str(servers.VENV_BIN / "flowvault"), "db", "upgrade"], env=env, check=True,  # noqa: S603
                           capture_output=True, timeout=120)
            subprocess.run([sys.executable, "-m", "bench.instructions", "--worker-child", "queue",  # noqa: S603
                            upstream.url.replace("/hook", "/open"), str(count)],
                           env=env, check=True, capture_output=True, timeout=300)
            log = log_dir / f"callgrind-worker-{count}.log"
            drain = ["--worker-child", "drain", "-", str(count)]
            processes.append(("worker", count, _counted(tool, log, drain, env), log))
        return processes

    try:
        counts = _counts(log_dir, start)
    finally:
        for data_dir in data_dirs:  # the key files of the counted drains
            servers.discard(data_dir)
    if counts is None:
        return dict(SKIPPED)
    for count in (runs, 2 * runs):
        log = log_dir / f"callgrind-worker-{count}.log"
        if f"drained {count} succeeded" not in log.read_text():
            raise RuntimeError(f"the counted drain of {count} runs did not run them all; see {log}")
    return {"runs": runs, "instructions_per_run": (counts[("worker", 2 * runs)] - counts[("worker", runs)]) / runs}


SETTLE_SECONDS = 0.05
"""After the upstream saw a run's call, the wait for that run's finish before the next webhook (~50 x its
time here): each webhook's run is then the only one, and no transaction shares a commit by chance."""


def count_serve(*, runs: int, log_dir: Path) -> dict[str, Any]:
    """Instructions per run of ``flowvault serve`` on its embedded default (SQLite): the webhook's HTTP
    request, the queue, the claim, the run (Webhook → HTTP Request with the bearer credential, to the
    fake upstream) and its finish. Two servers under callgrind take N and 2N webhooks, one after
    another (the next once the upstream saw the last one's call); each has its own upstream (not
    counted)."""
    tool = valgrind()
    if tool is None:
        return dict(SKIPPED)
    started: list[tuple[int, servers.Child, Upstream, str]] = []
    upstreams: list[Upstream] = []
    data_dirs: list[Path] = []
    try:
        for count in (runs, 2 * runs):
            upstream = start_upstream(log_dir, token=COUNTED_TOKEN)
            upstreams.append(upstream)
            data_dirs.append(Path(tempfile.mkdtemp(prefix="flowvault-counted-")))
            env = {"PYTHONHASHSEED": "0", **flowvault_env(data_dirs[-1])}
            port = servers.free_port()
            base = f"http://127.0.0.1:{port}"
            setup_server = start_flowvault(f"counted-serve-setup-{count}", port, env, log_dir)
            try:
                servers.wait_until(setup_server, servers.http_ok(f"{base}/api/v1/health"), timeout=60)
                hook_url = set_up_webhook_flow(base, upstream_host=UPSTREAM_HOST, upstream_url=upstream.url,
                                               token=upstream.token, concurrency=8).hook_url
            finally:
                setup_server.stop()
            env["BENCH_EXPERIMENTS"] = "slow_timers"  # as often per run as at full speed
            log = log_dir / f"callgrind-serve-{count}.log"
            serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
            process = _counted(tool, log, serve, {**os.environ, **env}, module="bench.experiments")
            started.append((count, servers.Child(log.stem, process, log, time.monotonic()), upstream, hook_url))
        with ThreadPoolExecutor(len(started)) as pool:
            counts = dict(pool.map(lambda each: _drive_counted_serve(*each), started))
    finally:
        for _, child, _, _ in started:
            child.stop(grace=TIMEOUT_SECONDS / 10)
        for upstream in upstreams:  # also the one of a server whose set-up failed
            upstream.child.stop()
        for data_dir in data_dirs:
            servers.discard(data_dir)
    return {"runs": runs, "instructions_per_run": (counts[2 * runs] - counts[runs]) / runs}


def _drive_counted_serve(count: int, child: servers.Child, upstream: Upstream, hook_url: str) -> tuple[int, int]:
    health = hook_url.split("/hooks/")[0] + "/api/v1/health"
    servers.wait_until(child, servers.http_ok(health), timeout=TIMEOUT_SECONDS / 3, interval=0.5)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    with httpx.Client(timeout=60) as client:
        for sent in range(1, count + 1):
            answer = client.post(hook_url, content=BODY, headers={"Content-Type": "application/json"})
            if answer.status_code != 202:
                raise RuntimeError(f"a counted webhook was answered {answer.status_code}: {answer.text[:200]}")
            while upstream.count() < sent:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"run {sent} of the counted server did not call out; see {child.log_path}")
                time.sleep(0.01)
            time.sleep(SETTLE_SECONDS)
    child.process.send_signal(signal.SIGTERM)  # callgrind reports its count as the process exits
    child.process.wait(timeout=TIMEOUT_SECONDS / 3)
    # uvicorn ends by re-raising the signal
    return count, _collected(child.process, child.log_path, f"serve x {count}", exits=(0, -signal.SIGTERM))


async def _worker_child(what: str, upstream_url: str, runs: int) -> None:
    """``queue``: a workspace (8 at once, the upstream allowed), the workflow and ``runs`` queued runs;
    ``drain``: drains them as a worker process does (see count_worker)."""
    from sqlalchemy import func, select

    from flowvault.bootstrap import open_state
    from flowvault.config import Settings
    from flowvault.dispatch import celery_app
    from flowvault.dispatch.celery_app import drain
    from flowvault.runs.models import Run
    from flowvault.runs.service import queue
    from flowvault.workflows.models import Workflow
    from flowvault.workspaces.models import Workspace, WorkspaceSettings

    state = await open_state(Settings(), create_key_file=what == "queue")
    try:
        if what == "drain":
            # Under valgrind a run takes ~50 times as long: the batching wait is stretched alike, so that
            # the free slots decide a pass's size as they do at full speed (a count that does not depend on
            # how fast the machine is at the time).
            celery_app.BATCH_SECONDS *= VALGRIND_SLOWDOWN
            while await drain(state, slots=1, budget_seconds=TIMEOUT_SECONDS):
                pass
            async with state.sessions() as session:
                done = await session.scalar(select(func.count()).where(Run.status == "succeeded"))
            print(f"drained {done} succeeded", flush=True)
            return
        async with state.sessions() as session:
            workspace = Workspace(name="Counted")
            session.add(workspace)
            await session.flush()
            session.add(WorkspaceSettings(workspace_id=workspace.id, concurrency=8, egress_allowlist=[UPSTREAM_HOST]))
            workflow = Workflow(workspace_id=workspace.id, name="Counted", graph=webhook_graph(upstream_url, None))
            session.add(workflow)
            await session.commit()
        for _ in range(runs):
            async with state.writes() as writes:
                await queue(writes, workspace_id=workspace.id, workflow_id=workflow.id, workflow_version=1,
                            trigger="webhook", run_input={"order": "A-1001", "amount": 42}, actor_id=None)
    finally:
        await state.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="N: the processes run N and 2N runs")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "RUNS"), help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help="count serve's whole run path instead (N=--runs)")
    parser.add_argument("--worker-child", nargs=3, metavar=("WHAT", "UPSTREAM", "RUNS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_child:
        what, upstream_url, runs = args.worker_child
        from flowvault.dispatch.celery_app import new_event_loop

        with asyncio.Runner(loop_factory=new_event_loop) as runner:  # the worker's own loop
            runner.run(_worker_child(what, upstream_url, int(runs)))
        return
    if args.child:
        variant, runs = args.child
        asyncio.run(repeat(variant, int(runs), os.environ["BENCH_UPSTREAM_URL"], os.environ["BENCH_UPSTREAM_TOKEN"]))
        return
    log_dir = Path(tempfile.mkdtemp(prefix="flowvault-instructions-"))
    if args.serve:
        served = count_serve(runs=args.runs, log_dir=log_dir)
        if "skipped" in served:
            raise SystemExit(served["skipped"])
        print(f"serve's instructions per run: {served['instructions_per_run']:,.0f} (N={args.runs}; logs in {log_dir})")
        return
    result = count_credential(runs=args.runs, log_dir=log_dir)
    if "skipped" in result:
        raise SystemExit(result["skipped"])
    per_run = result["instructions_per_run"]
    print(f"instructions per run: with {per_run['with']:,.0f}, without {per_run['without']:,.0f}; "
          f"ratio {result['ratio']:.4f} (+{result['overhead_per_run']:,.0f} a run; N={args.runs})")


if __name__ == "__main__":
    main()
