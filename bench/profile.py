"""Profile the webhook path: ``python -m bench.profile [--n N] [--experiments a,b] [--out FILE]``.

Runs the webhook benchmark with ``py-spy record`` attached to the server for the measured load
(collapsed stacks, 100 Hz, every thread) and prints where the samples went (``bench.flame``).
py-spy needs ptrace (root or CAP_SYS_PTRACE); when it cannot attach, the message says so and the
fallback is pyinstrument in-process (``--pyinstrument``: the server is started under
``pyinstrument -r text``, which profiles the main thread only)."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench import flame, servers
from bench.webhook import bench_flowvault

RESULTS = Path(__file__).resolve().parent / "results"


def py_spy() -> str:
    found = shutil.which("py-spy") or str(servers.VENV_BIN / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: `.venv/bin/pip install py-spy` (PyPI), then run again.")
    return found


@contextlib.contextmanager
def recording(out: Path, rate: int = 100, gil: bool = False) -> Iterator[None]:
    """A ``profile(pid)`` hook for ``bench_flowvault``: py-spy records while the block runs."""
    pid_holder: dict[str, subprocess.Popen[bytes]] = {}

    @contextlib.contextmanager
    def attach(pid: int) -> Iterator[None]:
        argv = [py_spy(), "record", "-p", str(pid), "-r", str(rate), "-f", "raw", "-o", str(out), "--nonblocking"]
        if gil:  # only the thread holding the GIL: where the Python CPU time goes
            argv.append("--gil")
        spy = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: S603
        pid_holder["spy"] = spy
        time.sleep(1.0)
        if spy.poll() is not None:
            message = spy.communicate()[0].decode(errors="replace")
            raise SystemExit(f"py-spy could not attach (needs ptrace): {message[-500:]}")
        try:
            yield
        finally:
            spy.send_signal(signal.SIGINT)
            try:
                spy.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.communicate(timeout=10)

    yield attach  # type: ignore[misc]


def summary(stacks_path: Path, top: int) -> str:
    stacks = flame.load(stacks_path)
    lines = [f"{sum(c for _, c in stacks)} samples"]
    for kind, rows in flame.summarize(stacks, top).items():
        lines.append(f"\n-- {kind} --")
        lines += [f"{share:6.1f}%  {count:7d}  {frame}" for frame, count, share in rows]
    lines.append("\n-- share of the event loop thread's samples (inclusive) --")
    lines += [f"{share:6.1f}%  {name}" for name, share in flame.breakdown(stacks)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=400, help="webhook requests during the profile (multiple of 20)")
    parser.add_argument("--experiments", default="", help="bench.experiments to apply, comma-separated")
    parser.add_argument("--out", type=Path, default=None, help="collapsed stacks file (default: a temporary file)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL")
    parser.add_argument("--rate", type=int, default=100, help="samples per second (py-spy -r)")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    label = (args.experiments.replace(",", "+") or "as-is") + ("-gil" if args.gil else "")
    out = args.out or Path(tempfile.mkdtemp(prefix="flowvault-profile-")) / f"profile-webhook-{label}.txt"
    env = {"BENCH_EXPERIMENTS": args.experiments} if args.experiments else None
    with recording(out, rate=args.rate, gil=args.gil) as attach:
        figures = bench_flowvault(
            n=args.n, concurrency=20, warmup=40, log_dir=out.parent, env_extra=env, profile=attach,
        )
    head = (f"{args.n} webhooks, experiments: {args.experiments or 'none'}, py-spy {'--gil' if args.gil else ''}: "
            f"{figures['completed_per_s']:.1f} completed runs/s, {figures['cpu_ms_per_run']:.1f} CPU ms/run\n")
    text = head + summary(out, args.top)
    saved = RESULTS / f"profile-webhook-{label}.summary.txt"
    saved.write_text(text)
    print(text)
    print(f"collapsed stacks (for flamegraph.pl or speedscope): {out}; summary: {saved}", file=sys.stderr)


if __name__ == "__main__":
    main()
