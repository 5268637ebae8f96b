"""Before/after figures for the redaction changes: ``python -m bench.compare_redaction [REV] [SIZES...]``.

Loads ``src/flowvault/redaction`` as it was at git revision REV (default HEAD, read with ``git show``,
nothing in the work tree changes) under another package name, and times it against the current code,
interleaved, on the same inputs: building a redactor over N secrets (a run: 1; the "no hardcoded
tokens" check: every secret of the workspace) with the peak memory it took (measured in a child
process each, so one build's memory does not hide the next), checking a workflow's settings with it,
and redacting 1 MB holding 200 secrets."""

from __future__ import annotations

import importlib
import json
import random
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("__init__", "forms", "markers", "matcher", "redactor", "stream", "registry", "logfilter", "cache")
CONFIG = json.dumps({"url": "https://api.example.com/v1/orders", "headers": {"X-Trace": "abc"},
                     "body": {"order": "{{trigger.order}}"}})


def export(rev: str, target: Path) -> None:
    package = target / "redaction_before"
    package.mkdir(parents=True)
    for name in MODULES:
        shown = subprocess.run(  # noqa: S603
            ["/usr/bin/git", "show", f"{rev}:src/flowvault/redaction/{name}.py"],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )
        if shown.returncode == 0:
            (package / f"{name}.py").write_text(shown.stdout.replace("flowvault.redaction", "redaction_before"))


def _secrets(count: int) -> list[tuple[str, str]]:
    rng = random.Random(count)  # noqa: S311 - test data
    alphabet = string.ascii_letters + string.digits
    return [(f"s{i}", "sk_live_" + "".join(rng.choices(alphabet, k=32))) for i in range(count)]


def child(package: str, count: int) -> dict[str, Any]:
    """In a fresh process: build over ``count`` secrets, then 20 checks of a workflow's settings."""
    import resource

    redactor_class = importlib.import_module(f"{package}.redactor").Redactor
    pairs = _secrets(count)
    started = time.perf_counter()
    redactor = redactor_class(pairs)
    build = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(20):
        redactor.redact(CONFIG)
    checks = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"build_s": build, "check_s": checks / 20, "peak_rss_mb": peak_mb}


def run_child(path: Path, package: str, count: int) -> dict[str, Any]:
    code = f"import sys, json; sys.path.insert(0, {str(path)!r}); sys.path.insert(0, {str(ROOT)!r}); " \
           f"from bench.compare_redaction import child; print(json.dumps(child({package!r}, {count})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900, check=True)  # noqa: S603
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def throughput(path: Path) -> dict[str, float]:
    sys.path.insert(0, str(path))
    from bench.redaction import all_patterns, make_secrets, make_text

    rng = random.Random(6)  # noqa: S311 - test data
    secrets, extra = make_secrets(200, rng)
    text = make_text(all_patterns(secrets, extra), 1_000_000, rng)
    out = {}
    for label, package in (("before", "redaction_before"), ("after", "flowvault.redaction")):
        redactor = importlib.import_module(f"{package}.redactor").Redactor(secrets, extra)
        best = min(_time(lambda r=redactor: r.redact(text)) for _ in range(5))
        one = [("api", "sk_live_" + "x" * 32)]
        module = importlib.import_module(f"{package}.redactor").Redactor
        build_one = min(_time(lambda m=module, o=one: m(o)) for _ in range(200))
        out[f"{label}_mb_per_s"] = 1 / best
        out[f"{label}_build_1_secret_ms"] = build_one * 1000
    return out


def _time(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    rev = sys.argv[1] if len(sys.argv) > 1 else "HEAD"
    sizes = [int(s) for s in sys.argv[2:]] or [200, 10_000, 100_000]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        export(rev, path)
        results: dict[str, Any] = {"rev": rev, "throughput_1mb_200_secrets": throughput(path)}
        for count in sizes:
            results[str(count)] = {
                "before": run_child(path, "redaction_before", count),
                "after": run_child(path, "flowvault.redaction", count),
            }
            print(count, json.dumps(results[str(count)]), file=sys.stderr, flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
