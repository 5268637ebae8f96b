"""Child processes for the benchmarks: a free port, start and wait until ready, peak memory, stop.

Every wait is bounded; every process is stopped by its own pid (SIGTERM, then SIGKILL after a grace
period), never by name."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def discard(path: Path) -> None:
    """Removes a benchmark's temporary data directory, unless BENCH_KEEP=1 (to look inside)."""
    if os.environ.get("BENCH_KEEP") != "1":
        shutil.rmtree(path, ignore_errors=True)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def proc_status(pid: int, key: str) -> int:
    """A ``kB`` figure from /proc/<pid>/status (``VmHWM`` = peak RSS, ``VmRSS`` = current), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


@dataclass
class Child:
    """A running child process with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    started: float
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def peak_rss(self) -> int:
        return proc_status(self.pid, "VmHWM")

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start(name: str, argv: Sequence[str], *, env: Mapping[str, str], log_dir: Path, cwd: Path = ROOT) -> Child:
    log_path = log_dir / f"{name}.log"
    handle = log_path.open("ab")
    started = time.monotonic()
    process = subprocess.Popen(  # noqa: S603 - fixed argv built by the harness
        list(argv), cwd=cwd, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT
    )
    handle.close()
    return Child(name, process, log_path, started)


def wait_until(child: Child, ready: Callable[[], bool], *, timeout: float, interval: float = 0.01) -> float:
    """Polls ``ready`` until it is true; returns the seconds since the child started. Raises if the
    child exits or the timeout passes (the child's log tail is in the message)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
        try:
            if ready():
                return time.monotonic() - child.started
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    child.stop()
    raise RuntimeError(f"{child.name} was not ready within {timeout} s:\n{child.log_tail()}")


def wait_settled(child: Child, *, timeout: float, window: float = 0.5, busy: float = 0.1) -> float:
    """Waits until the child has used less than ``busy`` of a core over ``window`` seconds (its start-up
    work in the background is done); returns the seconds since it started."""
    deadline = time.monotonic() + timeout
    before = child.cpu()
    while time.monotonic() < deadline:
        time.sleep(window)
        now = child.cpu()
        if now - before < busy * window:
            return time.monotonic() - child.started
        before = now
    raise RuntimeError(f"{child.name} stayed busy for {timeout} s:\n{child.log_tail()}")


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        return httpx.get(url, timeout=1.0).status_code == 200

    return check


def uvicorn_argv(app: str, host: str, port: int, *, access_log: bool) -> list[str]:
    argv = [str(VENV_BIN / "python"), "-m", "uvicorn", app, "--host", host, "--port", str(port)]
    argv += ["--log-level", "info" if access_log else "warning"]
    if not access_log:
        argv.append("--no-access-log")
    return argv
