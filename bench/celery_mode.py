"""Benchmark 1c: webhook → completed run in Celery mode (``FLOWVAULT_EXECUTOR=celery``), 1 and 2 workers.

Services: a throwaway PostgreSQL and Redis on free loopback ports, started and stopped exactly like
scripts/test.sh does (initdb as the postgres user when root, fsync off; ``redis-server --daemonize``
with a pidfile). Each measured mode gets its own database (``flowvault db upgrade``) and Redis db.

Per mode: ``flowvault serve`` (celery: queues the run, sends a wake-up) plus ``flowvault worker``
process(es); the same workflow as benchmark 1 (bench/webhook.py: Webhook → HTTP Request with a
bearer credential → the fake upstream on 127.0.0.2), set up through the public API; a warm-up, then
``hey`` POSTs N webhooks at concurrency C; runs are awaited (bounded) and read from PostgreSQL.
Figures are those of benchmark 1 (``summarize_runs``: completed runs/s, POST→completion p50/p99) plus
CPU per run of every process involved (serve, workers with their pool children, PostgreSQL with its
backends, Redis, the fake upstream, hey).

What a worker is: one ``flowvault worker`` process with ``--concurrency k`` prefork children, each
executing up to r runs at once on its event loop (``FLOWVAULT_WORKER_RUNS_PER_PROCESS``; by default
k = 1 and r = 8, like the embedded default's 8 at once on one event loop). By default each worker is
pinned to its own core (``taskset -c i``, inherited by its children): "1 worker" is one worker core,
and "per worker core" compares the 1-worker row with the embedded row directly. serve, PostgreSQL,
Redis, the upstream and hey are not pinned and share all cores. ``embedded_postgres`` (optional) is
the embedded default on the same PostgreSQL: it separates what the database costs from what the dispatch costs.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench import servers
from bench.api import set_up_webhook_flow
from bench.instructions import count_worker
from bench.load import percentile, run_hey
from bench.webhook import (
    BODY,
    UPSTREAM_HOST,
    accept_summary,
    cold_start,
    drain,
    flowvault_env,
    start_upstream,
    summarize_runs,
    wait_for_runs,
)


def definition(worker_concurrency: int, runs_per_process: int, pin: bool) -> str:
    """How the Celery rows are computed, for the table's footnote and bench/results.json."""
    where = "pinned to its own core (taskset)" if pin else "not pinned (any core)"
    return (
        f"a worker = one `flowvault worker --concurrency {worker_concurrency}` process ({worker_concurrency} prefork "
        f"children x FLOWVAULT_WORKER_RUNS_PER_PROCESS={runs_per_process}: "
        f"{worker_concurrency * runs_per_process} runs at once), {where}; per-worker-core ratio = 1-worker "
        "completed runs/s / embedded (SQLite) completed runs/s of the same `make bench` (one serve process, which "
        "executes on ~one core: one event loop); 2-vs-1 = 2-worker runs/s / 1-worker runs/s (the faster of the "
        "1-worker runs before and after). serve, PostgreSQL, Redis, the fake upstream and hey are not pinned: they "
        "share all cores with the workers."
    )


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise SystemExit("PostgreSQL is not installed: `apt-get install -y postgresql` (scripts/test.sh does it).")
    return found[-1].parent


def _check_redis() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise SystemExit("redis-server is not installed: `apt-get install -y redis-server` (scripts/test.sh does it).")
    return found


def check_tools() -> None:
    """Fails early, with an install hint, before anything starts."""
    _pg_bin()
    _check_redis()


def _as_pg(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str], timeout: float = 120.0) -> None:
    done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)  # noqa: S603 - fixed argv
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
        program = Path(argv[4] if argv[0] == "runuser" else argv[0]).name
        raise RuntimeError(f"{program} failed: {output}")


# --- CPU of process trees (from /proc) ------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (index 0 = state), or None once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def tree(root: int) -> dict[int, str]:
    """``root`` and its live descendants: pid → start time (to tell a pid from a later reuse of it)."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            starts[int(entry.name)] = fields[19]
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in starts and pid not in found:
            found[pid] = starts[pid]
            todo += children.get(pid, [])
    return found


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of ``root`` and its descendants, including the children they have
    already reaped (cutime + cstime), so a PostgreSQL backend that exited still counts."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in tree(root):
        fields = _stat(pid)
        if fields is not None:
            total += sum(int(value) for value in fields[11:15])
    return total / ticks


def stop_all(children: list[servers.Child], grace: float, known: dict[int, str] | None = None) -> dict[str, float]:
    """SIGTERM to every child at once (Celery: warm shutdown), a common ``grace`` period, then SIGKILL to
    whatever is left of their process trees, by pid. A prefork child outliving its parent is re-parented,
    so the trees are taken before (plus ``known``: members seen earlier, pid → start time, so a pid
    reused since is left alone). Returns the seconds each child took to exit."""
    members = dict(known or {})
    for child in children:
        if child.alive():
            members |= tree(child.pid)
    t0 = time.monotonic()
    for child in children:
        if child.alive():
            child.process.send_signal(signal.SIGTERM)
    took: dict[str, float] = {}
    for child in children:
        try:
            child.process.wait(max(0.1, grace - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait(5)
        took[child.name] = time.monotonic() - t0
    for pid, started in members.items():
        fields = _stat(pid)
        if fields is not None and fields[19] == started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return took


def machine_busy() -> tuple[float, float]:
    """(busy CPU seconds of all cores, monotonic time) from /proc/stat: with the CPU of the processes of
    the benchmark over the same window, what other processes on the (shared) machine took."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK"), time.monotonic()


# --- throwaway PostgreSQL and Redis ---------------------------------------------------------------


@dataclass
class Services:
    rundir: Path
    pg_bin: Path
    pg_port: int
    redis_port: int
    redis_pid: int = 0

    def pg_url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.pg_port}/{database}"

    def redis_url(self, index: int) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/{index}"

    def createdb(self, name: str) -> None:
        _run([str(self.pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", name])

    def postmaster_pid(self) -> int:
        return int((self.rundir / "data" / "postmaster.pid").read_text().split()[0])

    def versions(self) -> dict[str, str]:
        with psycopg.connect(self.pg_url("postgres", "postgresql")) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        info = redis.Redis(host="127.0.0.1", port=self.redis_port).info("server")
        return {"postgresql": str(row[0]) if row else "?", "redis": str(info.get("redis_version", "?"))}


def _stop_pid(pid: int, timeout: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _stat(pid) is not None:
            time.sleep(0.05)
        if _stat(pid) is not None:
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def throwaway_services(log_dir: Path) -> Iterator[Services]:
    """PostgreSQL and Redis as scripts/test.sh starts them; stopped (pg_ctl stop, Redis by its pid) and
    their directory removed on the way out, errors included. Their logs are copied to ``log_dir``."""
    pg_bin = _pg_bin()
    redis_server = _check_redis()
    rundir = Path(tempfile.mkdtemp(prefix="flowvault-bench-services-"))
    services = Services(rundir, pg_bin, servers.free_port(), servers.free_port())
    data = rundir / "data"
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(rundir, user.pw_uid, user.pw_gid)
        _run(_as_pg([str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                     "--no-sync"]))
        options = (f"-p {services.pg_port} -c listen_addresses=127.0.0.1 -k {rundir} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        if (pg_bin.parent / "lib" / "pg_stat_statements.so").exists():  # statements per run, per mode
            options += " -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
        _run(_as_pg([str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(rundir / "pg.log"), "-w", "-t", "60",
                     "-o", options, "start"]))
        _run([redis_server, "--bind", "127.0.0.1", "--port", str(services.redis_port), "--save", "",
              "--appendonly", "no", "--daemonize", "yes", "--pidfile", str(rundir / "redis.pid"),
              "--logfile", str(rundir / "redis.log"), "--dir", str(rundir)])
        client = redis.Redis(host="127.0.0.1", port=services.redis_port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.RedisError):
                if client.ping() and (rundir / "redis.pid").exists():
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer PING within 10 s")
            time.sleep(0.1)
        client.close()
        services.redis_pid = int((rundir / "redis.pid").read_text().split()[0])
        yield services
    finally:
        pidfile = rundir / "redis.pid"
        if services.redis_pid or pidfile.exists():
            with contextlib.suppress(OSError, ValueError):
                _stop_pid(services.redis_pid or int(pidfile.read_text().split()[0]))
        if (data / "postmaster.pid").exists():
            stop = _as_pg([str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop"])
            subprocess.run(stop, capture_output=True, timeout=90, check=False)  # noqa: S603 - fixed argv
        for name in ("pg.log", "redis.log"):
            with contextlib.suppress(OSError):
                shutil.copyfile(rundir / name, log_dir / f"services-{name}")
        servers.discard(rundir)


# --- one mode -------------------------------------------------------------------------------------


def runs_since(url: str, since: float) -> list[dict[str, Any]]:
    """The runs queued at or after ``since`` (epoch seconds), read from PostgreSQL."""
    query = ("SELECT id, status, queued_at, started_at, finished_at, error FROM runs "
             "WHERE queued_at >= to_timestamp(%s)")
    with psycopg.connect(url) as conn:
        rows = conn.execute(query, (since,)).fetchall()
    return [
        {"id": run_id, "status": status, "queued_at": queued.timestamp(),
         "started_at": started.timestamp() if started else None,
         "finished_at": finished.timestamp() if finished else None, "error": error}
        for run_id, status, queued, started, finished, error in rows
    ]


def statements_reset(url: str) -> bool:
    """Empties pg_stat_statements (when the server loaded it); False when it is not available."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
    except psycopg.Error:
        return False
    return True


def statements_per_run(url: str, n: int, top: int = 12) -> dict[str, Any]:
    """SQL statements executed in this database since the reset, per run: the total and the most
    frequent ones (text cut to 160 characters). Says how many round trips a run costs."""
    query = ("SELECT s.calls, s.total_exec_time, s.rows, s.query FROM pg_stat_statements s "
             "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() "
             "AND s.query NOT ILIKE '%pg_stat_statements%' ORDER BY s.calls DESC")
    with psycopg.connect(url) as conn:
        rows = conn.execute(query).fetchall()
    return {
        "total": sum(calls for calls, _t, _r, _q in rows) / n,
        "exec_ms": sum(float(t) for _c, t, _r, _q in rows) / n,
        "top": [{"per_run": calls / n, "exec_ms_per_run": float(t) / n, "rows_per_call": rows_ / calls if calls else 0,
                 "query": " ".join(str(q).split())[:160]} for calls, t, rows_, q in rows[:top]],
    }


def start_worker(name: str, env: dict[str, str], log_dir: Path, *, concurrency: int,
                 core: int | None) -> servers.Child:
    argv = [str(servers.VENV_BIN / "flowvault"), "worker", "--concurrency", str(concurrency)]
    if core is not None:
        argv = [shutil.which("taskset") or "taskset", "-c", str(core), *argv]
    return servers.start(name, argv, env=env, log_dir=log_dir)


def worker_ready(child: servers.Child, concurrency: int) -> bool:
    """Celery logs "<node> ready." once its pool is up; the children are there too by then."""
    text = child.log_path.read_text(errors="replace")
    return " ready." in text and len(tree(child.pid)) >= concurrency + 1


def bench_mode(
    services: Services, *, name: str, index: int, workers: int, worker_concurrency: int, n: int,
    concurrency: int, warmup: int, log_dir: Path, completion_timeout: float, pin: bool, runs_per_process: int = 8,
) -> dict[str, Any]:
    """One measured mode: ``workers`` = 0 is the embedded executor on PostgreSQL, otherwise Celery."""
    database = f"bench_{name}"
    services.createdb(database)
    data_dir = Path(tempfile.mkdtemp(prefix="flowvault-bench-"))
    try:
        return _bench_mode(services, database, data_dir, name=name, index=index, workers=workers,
                           worker_concurrency=worker_concurrency, n=n, concurrency=concurrency, warmup=warmup,
                           log_dir=log_dir, completion_timeout=completion_timeout, pin=pin,
                           runs_per_process=runs_per_process)
    finally:
        servers.discard(data_dir)


def _bench_mode(
    services: Services, database: str, data_dir: Path, *, name: str, index: int, workers: int,
    worker_concurrency: int, n: int, concurrency: int, warmup: int, log_dir: Path, completion_timeout: float,
    pin: bool, runs_per_process: int,
) -> dict[str, Any]:
    extra = {"FLOWVAULT_DATABASE_URL": services.pg_url(database)}
    if workers:
        extra |= {"FLOWVAULT_EXECUTOR": "celery", "FLOWVAULT_REDIS_URL": services.redis_url(index),
                  "FLOWVAULT_WORKER_RUNS_PER_PROCESS": str(runs_per_process)}
    env = flowvault_env(data_dir, extra)
    cores = os.cpu_count() or 1
    # The workspace limit must not cap the pool: every run slot of every worker child may hold a run.
    workspace_concurrency = max(8, workers * worker_concurrency * runs_per_process)
    result: dict[str, Any] = {
        "executor": "celery" if workers else "embedded", "database": "postgresql", "workers": workers,
        "worker_concurrency": worker_concurrency if workers else None,
        "worker_runs_per_process": runs_per_process if workers else None,
        "worker_cores": [i % cores for i in range(workers)] if pin and workers else None,
        "workspace_concurrency": workspace_concurrency, "n": n, "concurrency": concurrency,
    }
    upgrade = servers.start(f"{name}-db-upgrade", [str(servers.VENV_BIN / "flowvault"), "db", "upgrade"],
                            env=env, log_dir=log_dir)
    try:
        if upgrade.process.wait(120) != 0:
            raise RuntimeError(f"flowvault db upgrade failed:\n{upgrade.log_tail()}")
    finally:
        upgrade.stop()
    upstream = start_upstream(log_dir)
    port = servers.free_port()
    base = f"http://127.0.0.1:{port}"
    started: list[servers.Child] = []
    known: dict[int, str] = {}  # members of the workers' process trees, for the final SIGKILL sweep
    try:
        argv = [str(servers.VENV_BIN / "flowvault"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        server = servers.start(f"{name}-serve", argv, env=env, log_dir=log_dir)
        started.append(server)
        servers.wait_until(server, servers.http_ok(f"{base}/api/v1/health"), timeout=60)
        setup = set_up_webhook_flow(base, upstream_host=UPSTREAM_HOST, upstream_url=upstream.url,
                                    token=upstream.token, concurrency=workspace_concurrency)
        pool: list[servers.Child] = []
        for i in range(workers):
            child = start_worker(f"{name}-worker{i + 1}", env, log_dir, concurrency=worker_concurrency,
                                 core=i % cores if pin else None)
            started.append(child)
            pool.append(child)
        for child in pool:
            known |= tree(child.pid)
            servers.wait_until(child, partial(worker_ready, child, worker_concurrency), timeout=90, interval=0.2)
            known |= tree(child.pid)
        cold_start(server, setup.hook_url)  # one webhook answered 202: the path is up
        calls = 1
        if warmup:
            calls += run_hey(setup.hook_url, n=warmup, concurrency=concurrency, body=BODY).ok(202)
        if not wait_for_runs(setup.workspace, upstream, calls, timeout=60 + warmup / 2):
            raise RuntimeError(f"{name}: the warm-up runs did not finish")

        postmaster = services.postmaster_pid()
        meters: dict[str, Callable[[], float]] = {
            "serve": partial(tree_cpu, server.pid),
            "workers": lambda: sum(tree_cpu(child.pid) for child in pool),
            "postgresql": partial(tree_cpu, postmaster),
            "redis": partial(tree_cpu, services.redis_pid),
            "upstream": partial(tree_cpu, upstream.child.pid),
        }
        plain_url = services.pg_url(database, "postgresql")
        counting = statements_reset(plain_url)
        result["load_average_before"] = os.getloadavg()
        busy_before = machine_busy()
        before = {key: meter() for key, meter in meters.items()}
        hey_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = run_hey(setup.hook_url, n=n, concurrency=concurrency, body=BODY)
        hey_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        result["finished_in_time"] = wait_for_runs(setup.workspace, upstream, calls + load.ok(202),
                                                   timeout=completion_timeout)
        used = {key: meter() - before[key] for key, meter in meters.items()}
        used["hey"] = (hey_after.ru_utime - hey_before.ru_utime) + (hey_after.ru_stime - hey_before.ru_stime)
        busy_after = machine_busy()
        window = busy_after[1] - busy_before[1]
        # Cores in use over the measured window (load + wait): all processes, and those of the benchmark.
        result["machine_cores_busy"] = {"all": (busy_after[0] - busy_before[0]) / window,
                                        "benchmark": sum(used.values()) / window, "window_s": window}
        result["cpu_ms_per_run"] = {key: 1000 * seconds / n for key, seconds in used.items()}
        result["cpu_ms_per_run"]["all"] = sum(result["cpu_ms_per_run"].values())
        result["peak_rss_bytes"] = {"serve": server.peak_rss(),
                                    "workers": sum(servers.proc_status(pid, "VmHWM")
                                                   for child in pool for pid in tree(child.pid))}
        if counting:  # before runs_since, which is not a statement of the runs
            result["sql_statements_per_run"] = statements_per_run(plain_url, n)
        runs = runs_since(plain_url, load.started_at)
        result["accept"] = accept_summary(load, 202)
        result |= summarize_runs(runs, load.started_at)
        result["upstream_calls"] = upstream.count()
        span = result["span_s"]
        if workers and span == span and span > 0:  # not NaN
            # Cores the workers kept busy while the runs completed (1.0 = one core, all the time).
            result["worker_cores_busy"] = used["workers"] / span
        result["serve_cores_busy"] = used["serve"] / span if span == span and span > 0 else float("nan")
        result["latency_p90_s"] = percentile(
            [r["finished_at"] - r["queued_at"] for r in runs if r["status"] == "succeeded" and r["finished_at"]], 90
        )
        result["drain"] = drain(
            setup.workspace, setup.hook_url, n=n, concurrency=concurrency, full_limit=workspace_concurrency,
            read_runs=partial(runs_since, plain_url), meters=meters, executing="workers" if workers else "serve",
            timeout=completion_timeout,
        )
    finally:
        # Workers first (a warm shutdown finishes the runs they hold), then serve, then the upstream.
        result["stop_s"] = stop_all(started[1:], grace=40.0, known=known)
        result["stop_s"] |= stop_all(started[:1], grace=10.0)
        upstream.child.stop()
    return result


def bench_celery(
    *, n: int, concurrency: int, warmup: int, log_dir: Path, completion_timeout: float,
    worker_counts: tuple[int, ...] = (1, 2), worker_concurrency: int = 1, runs_per_process: int = 8,
    pin: bool = True, embedded_postgres: bool = True, bracket: bool = True, say: Any = None,
    count_runs: int = 0,
) -> dict[str, Any]:
    """Benchmark 1c (module docstring): one throwaway PostgreSQL + Redis for all modes, a fresh
    database and Redis db per mode. Returns the figures per mode and the 2-vs-1 figures. With
    ``bracket``, the 1-worker run is repeated after the 2-worker run and the faster of the two is the
    reference of the 2-vs-1 ratio (as for the bare baseline: the ratio then errs against flowvault).
    With ``count_runs``, a worker's drain is also counted in instructions (``bench.instructions``)."""
    say = say or (lambda message: None)
    result: dict[str, Any] = {
        "definition": definition(worker_concurrency, runs_per_process, pin), "worker_concurrency": worker_concurrency,
        "worker_runs_per_process": runs_per_process,
        "pinned": pin, "cores": os.cpu_count(), "n": n, "concurrency": concurrency, "modes": {},
    }
    with throwaway_services(log_dir) as services:
        result["versions"] = services.versions()
        plan = ([("embedded_pg", 0)] if embedded_postgres else []) + [(f"celery_{w}w", w) for w in worker_counts]
        if bracket and 1 in worker_counts and len(worker_counts) > 1:
            plan.append(("celery_1w_again", 1))
        for index, (name, workers) in enumerate(plan):
            what = (f"Celery, {workers} worker(s) x {worker_concurrency} x {runs_per_process}" if workers
                    else "embedded on PostgreSQL")
            say(f"{what}: {n} webhooks at c={concurrency}, runs awaited up to {completion_timeout:.0f} s")
            result["modes"][name] = bench_mode(
                services, name=name, index=index, workers=workers, worker_concurrency=worker_concurrency, n=n,
                concurrency=concurrency, warmup=warmup, log_dir=log_dir, completion_timeout=completion_timeout,
                pin=pin, runs_per_process=runs_per_process,
            )
        if count_runs:
            say(f"a worker's drain counted in instructions (valgrind, {count_runs} and {2 * count_runs} runs)")
            result["worker_instructions"] = count_worker(
                runs=count_runs, database_url=services.pg_url, createdb=services.createdb, log_dir=log_dir
            )
    ones = [result["modes"][key] for key in ("celery_1w", "celery_1w_again") if key in result["modes"]]
    one = max(ones, key=lambda mode: mode["completed_per_s"]) if ones else None
    two = result["modes"].get("celery_2w")
    if one:
        result["one_worker"] = one | {"bracket": [mode["completed_per_s"] for mode in ones]}
    if one and two and one["completed_per_s"]:
        result["scaling_2_vs_1"] = two["completed_per_s"] / one["completed_per_s"]
        # Each run also needs serve, PostgreSQL, Redis, upstream and hey CPU on the same cores. Even if 2
        # workers cost per run no more than 1 did (perfect scaling), at most cores / (all CPU per run of
        # the 1-worker run) runs/s fit on this machine: that, over the 1-worker rate, bounds 2-vs-1.
        ceiling = 1000 * (os.cpu_count() or 1) / one["cpu_ms_per_run"]["all"]
        result["machine_ceiling_runs_per_s"] = ceiling
        result["scaling_bound"] = ceiling / one["completed_per_s"]
    return result
