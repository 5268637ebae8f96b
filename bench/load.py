"""The external load generator: Debian's ``hey``, run as a child process with CSV output.

``hey -o csv`` prints one row per request: response-time (s), DNS+dialup, DNS, request-write,
response-delay, response-read, status-code and offset (s since hey started)."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import time
from dataclasses import dataclass

HEY_MISSING = (
    "`hey` is not installed. It is Debian's HTTP load generator: `apt-get install -y hey` "
    "(check `apt-cache policy hey`), then run the benchmarks again."
)


def hey_path() -> str:
    found = shutil.which("hey")
    if found is None:
        raise SystemExit(HEY_MISSING)
    return found


@dataclass
class LoadResult:
    started_at: float  # time.time() just before hey was launched
    wall_s: float  # hey's whole run, as seen from here
    latencies_s: list[float]  # per request, as hey measured them
    offsets_s: list[float]
    statuses: dict[int, int]

    @property
    def requests(self) -> int:
        return len(self.latencies_s)

    def ok(self, status: int) -> int:
        return self.statuses.get(status, 0)

    @property
    def span_s(self) -> float:
        """From the first request's start to the last answer, by hey's own clock."""
        return max(o + lat for o, lat in zip(self.offsets_s, self.latencies_s, strict=True)) - min(self.offsets_s)


def run_hey(url: str, *, n: int, concurrency: int, body: str, timeout_s: float = 600.0) -> LoadResult:
    if n % concurrency:
        raise ValueError(f"hey sends n // c requests per worker: make n ({n}) a multiple of c ({concurrency})")
    argv = [
        hey_path(), "-n", str(n), "-c", str(concurrency), "-m", "POST", "-T", "application/json",
        "-d", body, "-t", "30", "-o", "csv", url,
    ]
    started_at = time.time()
    t0 = time.monotonic()
    done = subprocess.run(argv, capture_output=True, timeout=timeout_s, check=False)  # noqa: S603
    wall = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(f"hey failed ({done.returncode}): {done.stderr.decode(errors='replace')[:2000]}")
    latencies: list[float] = []
    offsets: list[float] = []
    statuses: dict[int, int] = {}
    for row in csv.DictReader(io.StringIO(done.stdout.decode())):
        latencies.append(float(row["response-time"]))
        offsets.append(float(row["offset"]))
        status = int(row["status-code"])
        statuses[status] = statuses.get(status, 0) + 1
    return LoadResult(started_at, wall, latencies, offsets, statuses)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]
