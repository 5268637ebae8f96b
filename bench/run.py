"""flowvault benchmarks (issue 6): ``make bench`` or ``python -m bench.run [--quick] [--only ...]``.

Every process binds to loopback (127.0.0.1; the fake upstream on 127.0.0.2), every load is bounded
in count (``hey -n``) and every wait in time. Prints one table and writes ``bench/results.json``;
docs/PERFORMANCE.md explains each figure.

    full  (~10 min on the 2-core machine, ~10 more for celery): N=2000 webhooks at c=20 (celery: 1000),
          100 and 100,000 secrets
    quick (~3 min, ~5 more for celery): N=200, 100 and 5,000 secrets, 1,000 workflows

    celery: throwaway PostgreSQL + Redis; the embedded default on PostgreSQL, then Celery mode with 1
    and 2 workers and 1 again (each `flowvault worker --concurrency K` x R runs per process, K=1, R=8,
    pinned to one core), at
    the same C. The reference of the ratios is the webhook section's embedded (SQLite) run; without
    that section, an embedded run at the celery N is made first.

    drained runs/s: after its load, each flowvault server (and its workers) also drains a queue of the
    celery N runs (filled while the workspace may run one at a time): execution capacity apart from
    accepting and from hey (``bench.webhook.drain``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.celery_mode import bench_celery, check_tools
from bench.credential import bench_credential
from bench.instructions import count_credential
from bench.load import hey_path
from bench.redaction import bench_redaction
from bench.scale import bench_scale
from bench.webhook import bench_baseline, bench_flowvault

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results.json"
LOG_DIR = Path(tempfile.mkdtemp(prefix="flowvault-bench-logs-"))  # server logs, kept for a look afterwards
WHATIF = "shared_ssl,shared_clients"
SECTIONS = ("webhook", "celery", "credential", "redaction", "scale")


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_webhook(args: argparse.Namespace) -> dict[str, Any]:
    n, c = args.n, args.concurrency
    warmup = max(c, (n // 10) // c * c)
    _say(f"bare baseline: {n} POSTs at c={c}")
    baselines = [bench_baseline(n=n, concurrency=c, warmup=warmup, log_dir=LOG_DIR)]

    def baseline_between_rounds() -> None:
        _say(f"bare baseline between rounds ({len(baselines)} of {args.rounds - 1})")
        baselines.append(bench_baseline(n=n, concurrency=c, warmup=warmup, log_dir=LOG_DIR))

    _say(f"flowvault serve (as is): {args.rounds} x {n} webhooks at c={c}, runs awaited up to {args.deadline:.0f} s")
    flowvault = bench_flowvault(n=n, concurrency=c, warmup=warmup, log_dir=LOG_DIR, completion_timeout=args.deadline,
                                drain_n=args.celery_n, rounds=args.rounds, between=baseline_between_rounds)
    _say("bare baseline again (drift check)")
    baselines.append(bench_baseline(n=n, concurrency=c, warmup=warmup, log_dir=LOG_DIR))
    # Each round is against the better of the two bare runs beside it (the conservative ratio); the
    # figures are those of the round with the median ratio: one slow stretch of this shared host moves
    # one round, not the result.
    beside = zip(flowvault["rounds"], baselines[:-1], baselines[1:], strict=True)
    paired = [
        (round_ | {"round": number}, max(before, after, key=lambda r: r["completed_per_s"]))
        for number, (round_, before, after) in enumerate(beside)
    ]
    ratios = [report.ratio_of(round_["completed_per_s"], bare["completed_per_s"]) for round_, bare in paired]
    median_round, base = paired[sorted(range(len(paired)), key=ratios.__getitem__)[len(paired) // 2]]
    base = base | {"bracket": [baseline["completed_per_s"] for baseline in baselines]}
    flowvault = flowvault | median_round
    result: dict[str, Any] = {
        "n": n, "concurrency": c, "baseline": base, "baseline_runs": baselines, "flowvault": flowvault,
        "round_ratios": ratios,
    }
    if args.whatif_n:
        wn = args.whatif_n // c * c
        _say(f"what-if {WHATIF}: {wn} webhooks")
        whatif = bench_flowvault(n=wn, concurrency=c, warmup=warmup, log_dir=LOG_DIR,
                                 env_extra={"BENCH_EXPERIMENTS": WHATIF}, completion_timeout=args.deadline)
        result["whatif"] = whatif | {"experiments": WHATIF, "n": wn}
    return result


def run_celery(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    n, c = args.celery_n, args.concurrency
    warmup = max(c, (n // 10) // c * c)
    reference = None
    if "webhook" not in results:
        _say(f"embedded (SQLite) reference for the Celery ratios: {n} webhooks at c={c}")
        reference = bench_flowvault(n=n, concurrency=c, warmup=warmup, log_dir=LOG_DIR,
                                    completion_timeout=args.deadline, drain_n=n)
    celery = bench_celery(n=n, concurrency=c, warmup=warmup, log_dir=LOG_DIR, completion_timeout=args.deadline,
                          worker_concurrency=args.worker_concurrency, runs_per_process=args.worker_runs,
                          pin=not args.no_pin,
                          embedded_postgres=not args.no_embedded_pg, bracket=not args.no_bracket, say=_say,
                          count_runs=0 if args.no_instructions else 100 if args.quick else 200)
    if reference is not None:
        celery["embedded_sqlite"] = reference | {"n": n, "concurrency": c}
    return celery


def _exit_on_sigterm(signum: int, _frame: Any) -> None:
    """SIGTERM unwinds like Ctrl-C: every benchmark stops the servers it started (by PID) on the way out."""
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small N and sizes, for development")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    parser.add_argument("--n", type=int, default=None, help="webhook requests (multiple of --concurrency)")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--whatif-n", type=int, default=0,
                        help="webhooks for a what-if run with bench/experiments.py patches (default 0: none; "
                        "the shared TLS context and clients it tried are now in the product)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="webhook: loads of the same flowvault server, a bare baseline run between each two "
                        "(default 3, 1 with --quick); the round with the median ratio is reported")
    parser.add_argument("--deadline", type=float, default=None, help="seconds to wait for runs after the load")
    parser.add_argument("--celery-n", type=int, default=None,
                        help="webhooks per run of the celery section (default: --n, at most 1000: it makes 4-5 runs)")
    parser.add_argument("--worker-concurrency", type=int, default=1,
                        help="celery: --concurrency of each `flowvault worker` (pool processes per worker)")
    parser.add_argument("--worker-runs", type=int, default=8,
                        help="celery: FLOWVAULT_WORKER_RUNS_PER_PROCESS (runs at once per pool process)")
    parser.add_argument("--no-pin", action="store_true", help="celery: do not pin each worker to its own core")
    parser.add_argument("--no-embedded-pg", action="store_true",
                        help="celery: skip the embedded-on-PostgreSQL run")
    parser.add_argument("--no-bracket", action="store_true",
                        help="celery: do not repeat the 1-worker run after the 2-worker run")
    parser.add_argument("--no-instructions", action="store_true",
                        help="credential, celery: skip counting instructions under valgrind (~1.5 min each)")
    parser.add_argument("--out", type=Path, default=RESULTS_JSON)
    args = parser.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    args.n = args.n or (200 if args.quick else 2000)
    args.n = max(args.concurrency, args.n // args.concurrency * args.concurrency)
    args.celery_n = args.celery_n or min(args.n, 1000)
    args.celery_n = max(args.concurrency, args.celery_n // args.concurrency * args.concurrency)
    args.rounds = max(1, args.rounds or (1 if args.quick else 3))
    args.deadline = args.deadline or (120.0 if args.quick else 300.0)
    if "webhook" in only or "credential" in only or "celery" in only:
        hey_path()  # fail early, with the install hint, before anything starts
    if "celery" in only:
        check_tools()
    _say(f"server logs in {LOG_DIR}")

    started = time.monotonic()
    results: dict[str, Any] = {"machine": report.machine(), "mode": "quick" if args.quick else "full",
                               "sections": only}
    if "webhook" in only:
        results["webhook"] = run_webhook(args)
    if "celery" in only:
        results["celery"] = run_celery(args, results)
    if "credential" in only:
        _say("credential overhead (in process)")
        results["credential"] = bench_credential(runs=200 if args.quick else 1000, log_dir=LOG_DIR)
        if not args.no_instructions:
            _say("credential overhead counted in instructions (valgrind)")
            results["credential"]["instructions"] = count_credential(runs=100 if args.quick else 200, log_dir=LOG_DIR)
    if "redaction" in only:
        _say("redaction: 1 MB, 200 secrets")
        results["redaction"] = bench_redaction()
    if "scale" in only:
        sizes = (100, 5_000) if args.quick else (100, 100_000)
        workflows = 1_000 if args.quick else 10_000
        _say(f"scale: {workflows:,} workflows, {' then '.join(f'{s:,}' for s in sizes)} secrets")
        results["scale"] = bench_scale(log_dir=LOG_DIR, sizes=sizes, workflows=workflows)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["seconds"] = time.monotonic() - started
    table = report.rows(results)
    results["table"] = [dict(zip(("benchmark", "figure", "flowvault", "reference", "ratio", "target"), row,
                                 strict=True)) for row in table]
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(report.markdown(table))
    if isinstance(results.get("celery"), dict):
        print("\n" + report.celery_note(results["celery"]))
    print(f"\n{results['mode']} run in {results['seconds']:.0f} s; load average at start / end: "
          f"{results['machine']['load_average_at_start'][0]:.1f} / {os.getloadavg()[0]:.1f}; "
          f"figures in {args.out.relative_to(Path.cwd()) if args.out.is_relative_to(Path.cwd()) else args.out}")


if __name__ == "__main__":
    main()
