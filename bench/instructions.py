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
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.credential import repeat
from bench.webhook import start_upstream

VARIANTS = ("with", "without")
TIMEOUT_SECONDS = 900.0
"""A counting process that takes longer is stopped (by its pid); at N=200 they take 1-2 min."""
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
            found = _COLLECTED.findall(log.read_text())
            if process.returncode != 0 or not found:
                raise RuntimeError(f"counting {variant} x {runs} failed (exit {process.returncode}); see {log}")
            counts[(variant, runs)] = int(found[-1])
    finally:
        for *_, process, _log in processes:
            if process.poll() is None:
                process.kill()  # by its own pid
                process.wait()
    return counts


def count_credential(*, runs: int, log_dir: Path) -> dict[str, Any]:
    """Instructions per run of each variant, and their ratio."""
    tool = valgrind()
    if tool is None:
        return {"skipped": "valgrind is not installed (apt-get install -y valgrind)"}
    upstream = start_upstream(log_dir, token=COUNTED_TOKEN)
    try:
        processes = []
        for variant in VARIANTS:
            for count in (runs, 2 * runs):
                log = log_dir / f"callgrind-{variant}-{count}.log"
                argv = [tool, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m",
                        "bench.instructions", "--child", variant, str(count)]
                env = {**os.environ, "PYTHONHASHSEED": "0", "BENCH_UPSTREAM_URL": upstream.url,
                       "BENCH_UPSTREAM_TOKEN": upstream.token}
                with log.open("wb") as out:
                    child = subprocess.Popen(argv, env=env, stdout=out, stderr=out)  # noqa: S603 - fixed argv
                processes.append((variant, count, child, log))
        counts = _count(processes)
    finally:
        upstream.child.stop()
    per_run = {variant: (counts[(variant, 2 * runs)] - counts[(variant, runs)]) / runs for variant in VARIANTS}
    version = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    version_text = version.stdout.strip()
    return {
        "tool": f"{version_text} --tool=callgrind",
        "runs": runs,
        "instructions_per_run": per_run,
        "ratio": per_run["with"] / per_run["without"],
        "overhead_per_run": per_run["with"] - per_run["without"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="N: the processes run N and 2N runs")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "RUNS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        variant, runs = args.child
        asyncio.run(repeat(variant, int(runs), os.environ["BENCH_UPSTREAM_URL"], os.environ["BENCH_UPSTREAM_TOKEN"]))
        return
    result = count_credential(runs=args.runs, log_dir=Path(tempfile.mkdtemp(prefix="flowvault-instructions-")))
    if "skipped" in result:
        raise SystemExit(result["skipped"])
    per_run = result["instructions_per_run"]
    print(f"instructions per run: with {per_run['with']:,.0f}, without {per_run['without']:,.0f}; "
          f"ratio {result['ratio']:.4f} (+{result['overhead_per_run']:,.0f} a run; N={args.runs})")


if __name__ == "__main__":
    main()
