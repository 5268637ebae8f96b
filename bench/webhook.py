"""Benchmark 1: webhook → completed run on the embedded default (SQLite), and the bare baseline.

flowvault: ``flowvault serve`` in a temporary data directory; a workflow Webhook → HTTP Request
(bearer credential) → the fake upstream on 127.0.0.2. ``hey`` POSTs N webhooks at concurrency C.
A run's completion time is its ``finished_at``; its latency is ``finished_at - queued_at`` (both
taken by the server: ``queued_at`` inside the webhook request, just before the run is committed).
Completed runs/s = succeeded runs / (last ``finished_at`` - the moment hey was launched).

Baseline: ``bench/baseline.py`` under uvicorn with the same settings ``flowvault serve`` uses
(access log on), the same N, C and body; its throughput is N / hey's span, its p99 hey's own."""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench import servers
from bench.api import set_up_webhook_flow
from bench.load import LoadResult, percentile, run_hey

UPSTREAM_HOST = "127.0.0.2"
BODY = '{"order":"A-1001","amount":42}'
COLD_STARTS = 3


@dataclass
class Upstream:
    child: servers.Child
    url: str
    token: str

    def count(self) -> int:
        return int(httpx.get(self.url.replace("/hook", "/count"), timeout=5).json()["ok"])


def start_upstream(log_dir: Path, token: str | None = None) -> Upstream:
    token = token or "bench-upstream-" + secrets.token_urlsafe(24)
    port = servers.free_port(UPSTREAM_HOST)
    argv = servers.uvicorn_argv("bench.upstream:app", UPSTREAM_HOST, port, access_log=False)
    child = servers.start("upstream", argv, env={"BENCH_UPSTREAM_TOKEN": token}, log_dir=log_dir)
    url = f"http://{UPSTREAM_HOST}:{port}/hook"
    servers.wait_until(child, servers.http_ok(url.replace("/hook", "/count")), timeout=20)
    return Upstream(child, url, token)


def flowvault_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"FLOWVAULT_DATA_DIR": str(data_dir), "FLOWVAULT_ALLOW_PRIVATE_HOSTS": UPSTREAM_HOST, **(extra or {})}


def start_flowvault(name: str, port: int, env: dict[str, str], log_dir: Path) -> servers.Child:
    """``flowvault serve``; with ``BENCH_EXPERIMENTS`` in ``env``, through ``bench.experiments``."""
    command = [str(servers.VENV_BIN / "flowvault")]
    if env.get("BENCH_EXPERIMENTS"):
        command = [str(servers.VENV_BIN / "python"), "-m", "bench.experiments"]
    argv = [*command, "serve", "--host", "127.0.0.1", "--port", str(port)]
    return servers.start(name, argv, env=env, log_dir=log_dir)


def _parse_time(value: str | None) -> float | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def runs_since(db_path: Path, since: float) -> list[dict[str, Any]]:
    """The runs queued at or after ``since`` (epoch seconds), read from the database file (read-only)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute("SELECT id, status, queued_at, started_at, finished_at, error FROM runs").fetchall()
    found = []
    for run_id, status, queued, started, finished, error in rows:
        queued_at = _parse_time(queued)
        if queued_at is not None and queued_at >= since:
            found.append({
                "id": run_id, "status": status, "queued_at": queued_at, "started_at": _parse_time(started),
                "finished_at": _parse_time(finished), "error": error,
            })
    return found


def wait_for_runs(setup_ws: Any, upstream: Upstream, expected_calls: int, timeout: float) -> bool:
    """Until the upstream saw ``expected_calls`` calls and no run is queued or running; False when
    ``timeout`` seconds passed first (the caller reports what finished by then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and upstream.count() < expected_calls:
        time.sleep(0.2)
    return wait_idle(setup_ws, deadline)


def wait_idle(setup_ws: Any, deadline: float) -> bool:
    """Until no run of the workspace is queued or running; False at ``deadline`` (monotonic) first."""
    while time.monotonic() < deadline:
        busy = [
            setup_ws.call("GET", "/runs", 200, params={"status": status, "limit": 1})["items"]
            for status in ("queued", "running")
        ]
        if not any(busy):
            return True
        time.sleep(0.2)
    return False


DRAIN_FILL_LIMIT = 1
"""The workspace's concurrency limit while the drain's queue fills."""


def drain(
    setup_ws: Any, hook_url: str, *, n: int, concurrency: int, full_limit: int,
    read_runs: Callable[[float], list[dict[str, Any]]], meters: dict[str, Callable[[], float]], executing: str,
    timeout: float,
) -> dict[str, Any]:
    """Execution capacity, apart from accepting and from the load generator: ``n`` webhooks queue runs
    while the workspace may run ``DRAIN_FILL_LIMIT`` at a time; then its limit is raised to
    ``full_limit`` and the runs that start afterwards are timed, from the raise to the last one's end.
    ``meters``: CPU seconds so far of each process group; ``executing`` names the one executing runs."""

    def limit(runs: int) -> None:
        setup_ws.call("PUT", "/settings/engine", 200, json={"concurrency": runs, "egress_allowlist": [UPSTREAM_HOST]})

    limit(DRAIN_FILL_LIMIT)
    load = run_hey(hook_url, n=n, concurrency=concurrency, body=BODY)  # each 202 came after its run's commit
    before = {key: meter() for key, meter in meters.items()}
    released = time.time()
    limit(full_limit)
    finished = wait_idle(setup_ws, time.monotonic() + timeout)
    used = {key: meter() - before[key] for key, meter in meters.items()}
    runs = read_runs(load.started_at)
    drained = [r for r in runs if r["status"] == "succeeded" and r["finished_at"] and r["started_at"] >= released]
    span = max((r["finished_at"] for r in drained), default=float("nan")) - released
    return {
        "n": n, "accepted": load.ok(202), "finished_in_time": finished, "fill_limit": DRAIN_FILL_LIMIT,
        "full_limit": full_limit, "ran_while_filling": len(runs) - len(drained), "drained": len(drained),
        "span_s": span, "drained_per_s": len(drained) / span if drained else 0.0,
        "cpu_ms_per_run": {key: 1000 * seconds / len(drained) for key, seconds in used.items()} if drained else {},
        "executing_cores_busy": used[executing] / span if drained else float("nan"),
    }


def cold_start(child: servers.Child, hook_url: str, timeout: float = 60.0) -> float:
    """Seconds from the process start to the first webhook answered 202 (POST every 10 ms)."""

    def answered() -> bool:
        answer = httpx.post(hook_url, content=BODY, headers={"Content-Type": "application/json"}, timeout=5)
        return answer.status_code == 202

    return servers.wait_until(child, answered, timeout=timeout, interval=0.01)


def summarize_runs(runs: list[dict[str, Any]], started_at: float) -> dict[str, Any]:
    done = [r for r in runs if r["status"] == "succeeded" and r["finished_at"] is not None]
    latencies = [r["finished_at"] - r["queued_at"] for r in done]
    waits = [r["started_at"] - r["queued_at"] for r in done if r["started_at"] is not None]
    execs = [r["finished_at"] - r["started_at"] for r in done if r["started_at"] is not None]
    span = (max(r["finished_at"] for r in done) - started_at) if done else float("nan")
    statuses: dict[str, int] = {}
    for run in runs:
        statuses[run["status"]] = statuses.get(run["status"], 0) + 1
    return {
        "runs": len(runs),
        "completed": len(done),
        "unfinished": sum(1 for r in runs if r["status"] in ("queued", "running")),
        "statuses": statuses,
        "errors": sorted({str(r["error"])[:200] for r in runs if r["error"]})[:5],
        "completed_per_s": len(done) / span if done else 0.0,
        "span_s": span,
        "latency_p50_s": percentile(latencies, 50),
        "latency_p99_s": percentile(latencies, 99),
        "latency_max_s": max(latencies, default=float("nan")),
        "queue_wait_p50_s": percentile(waits, 50),
        "queue_wait_p99_s": percentile(waits, 99),
        "execution_p50_s": percentile(execs, 50),
        "execution_p99_s": percentile(execs, 99),
    }


def accept_summary(load: LoadResult, accepted: int) -> dict[str, Any]:
    return {
        "requests": load.requests,
        "answered": dict(sorted(load.statuses.items())),
        "accepted": load.ok(accepted),
        "p50_s": percentile(load.latencies_s, 50),
        "p99_s": percentile(load.latencies_s, 99),
        "hey_span_s": load.span_s,
        "requests_per_s": load.requests / load.span_s if load.span_s else 0.0,
    }


def bench_flowvault(
    *, n: int, concurrency: int, warmup: int, log_dir: Path, env_extra: dict[str, str] | None = None,
    workspace_concurrency: int = 8, profile: Any = None, completion_timeout: float = 600.0, drain_n: int = 0,
    rounds: int = 1, between: Callable[[], object] | None = None,
) -> dict[str, Any]:
    """Returns the figures of one flowvault run (see the module docstring). ``profile(pid)`` is
    entered around the measured load when given (py-spy). Runs still unfinished
    ``completion_timeout`` seconds after the load ended are reported as such (``unfinished``).
    With ``rounds`` > 1 the same server takes the load again, ``between()`` called before each later
    round (the bare baseline runs there, while this server idles): ``rounds`` holds each round's
    figures, the top level the first round's. With ``drain_n``, the same server then drains
    ``drain_n`` queued runs (``drain``)."""
    data_dir = Path(tempfile.mkdtemp(prefix="flowvault-bench-"))
    upstream = start_upstream(log_dir)
    port = servers.free_port()
    base = f"http://127.0.0.1:{port}"
    env = flowvault_env(data_dir, env_extra)
    result: dict[str, Any] = {"data_dir": str(data_dir), "workspace_concurrency": workspace_concurrency}
    try:
        first = start_flowvault("flowvault-setup", port, env, log_dir)
        try:
            result["fresh_start_to_health_s"] = servers.wait_until(
                first, servers.http_ok(f"{base}/api/v1/health"), timeout=60
            )
            setup = set_up_webhook_flow(
                base, upstream_host=UPSTREAM_HOST, upstream_url=upstream.url, token=upstream.token,
                concurrency=workspace_concurrency,
            )
        finally:
            first.stop()
        # One start is one sample of a ~1.7 s figure that other tenants' load moves by ±0.3 s: the figure
        # is the median of COLD_STARTS starts, the last of which serves the load.
        starts = []
        for _ in range(COLD_STARTS - 1):
            probe = start_flowvault("flowvault-cold", port, env, log_dir)
            try:
                starts.append(cold_start(probe, setup.hook_url))
            finally:
                probe.stop()
        server = start_flowvault("flowvault", port, env, log_dir)
        try:
            starts.append(cold_start(server, setup.hook_url))
            result["cold_starts_s"] = starts
            result["cold_start_s"] = statistics.median(starts)
            calls = COLD_STARTS  # each start's first webhook queued a run
            if warmup:
                calls += run_hey(setup.hook_url, n=warmup, concurrency=concurrency, body=BODY).ok(202)
                if not wait_for_runs(setup.workspace, upstream, calls, timeout=60 + warmup / 2):
                    raise RuntimeError("the warm-up runs did not finish")
            loads: list[tuple[LoadResult, float, bool]] = []  # (hey's result, server CPU ms per run, finished)
            for round_number in range(rounds):
                if round_number and between is not None:
                    between()
                cpu_before = server.cpu()
                with profile(server.pid) if profile is not None else contextlib.nullcontext():
                    load = run_hey(setup.hook_url, n=n, concurrency=concurrency, body=BODY)
                    calls += load.ok(202)
                    finished = wait_for_runs(setup.workspace, upstream, calls, timeout=completion_timeout)
                loads.append((load, 1000 * (server.cpu() - cpu_before) / n, finished))
            result["peak_rss_bytes"] = server.peak_rss()
            result["upstream_cpu_s"] = upstream.child.cpu()
            loaded_until = time.time()  # the drain's runs come after: they are not the load's
            if drain_n:
                result["drain"] = drain(
                    setup.workspace, setup.hook_url, n=drain_n, concurrency=concurrency,
                    full_limit=workspace_concurrency, read_runs=partial(runs_since, data_dir / "flowvault.db"),
                    meters={"serve": server.cpu}, executing="serve", timeout=completion_timeout,
                )
        finally:
            server.stop()
        runs = runs_since(data_dir / "flowvault.db", loads[0][0].started_at)  # the warm-up runs came before
        ends = [load.started_at for load, _, _ in loads[1:]] + [loaded_until]
        result["rounds"] = [
            {"accept": accept_summary(load, 202), "cpu_ms_per_run": cpu_ms, "finished_in_time": finished}
            | summarize_runs([run for run in runs if load.started_at <= run["queued_at"] < end], load.started_at)
            for (load, cpu_ms, finished), end in zip(loads, ends, strict=True)
        ]
        result |= result["rounds"][0]
        result["upstream_calls"] = upstream.count() if upstream.child.alive() else None
    finally:
        upstream.child.stop()
        servers.discard(data_dir)
    return result


def bench_baseline(*, n: int, concurrency: int, warmup: int, log_dir: Path) -> dict[str, Any]:
    upstream = start_upstream(log_dir)
    port = servers.free_port()
    try:
        argv = servers.uvicorn_argv("bench.baseline:app", "127.0.0.1", port, access_log=True)
        env = {"BENCH_UPSTREAM_URL": upstream.url, "BENCH_UPSTREAM_TOKEN": upstream.token}
        child = servers.start("baseline", argv, env=env, log_dir=log_dir)
        url = f"http://127.0.0.1:{port}/hooks/bench/token"
        try:
            servers.wait_until(child, servers.http_ok(url), timeout=30)
            if warmup:
                run_hey(url, n=warmup, concurrency=concurrency, body=BODY)
            cpu_before = child.cpu()
            load = run_hey(url, n=n, concurrency=concurrency, body=BODY)
            cpu_used = child.cpu() - cpu_before
            accept = accept_summary(load, 202)
            return {
                "accept": accept,
                "completed_per_s": load.ok(202) / load.span_s if load.span_s else 0.0,
                "latency_p50_s": accept["p50_s"],
                "latency_p99_s": accept["p99_s"],
                "peak_rss_bytes": child.peak_rss(),
                "cpu_ms_per_run": 1000 * cpu_used / n,
                "upstream_calls": upstream.count(),
            }
        finally:
            child.stop()
    finally:
        upstream.child.stop()
