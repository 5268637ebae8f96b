"""The one table ``make bench`` prints (Markdown, so it pastes into docs/PERFORMANCE.md) and the
machine description saved beside the figures in bench/results.json."""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

NOT_MEASURED_CELERY = "not measured: Celery mode not implemented yet"
PACKAGES = ("fastapi", "uvicorn", "starlette", "sqlalchemy", "aiosqlite", "httpx", "httpcore", "ahocorasick-rs",
            "cryptography", "pydantic")


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")
    meminfo = Path("/proc/meminfo").read_text().splitlines() if Path("/proc/meminfo").exists() else []
    mem_kb = next((int(line.split()[1]) for line in meminfo if line.startswith("MemTotal")), 0)
    query = ["/usr/bin/dpkg-query", "-W", "-f=${Version}", "hey"]
    hey = subprocess.run(query, capture_output=True, text=True, check=False)  # noqa: S603
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": model, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(), "python": platform.python_version(), "hey": hey.stdout.strip() or None,
        "packages": versions, "load_average_at_start": os.getloadavg(),
    }


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _mb(value: Any) -> str:
    return f"{value / 1024 / 1024:,.0f} MB" if value else "—"


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "MISSED")


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """(benchmark, figure, flowvault, reference, ratio, target / verdict)."""
    table: list[tuple[str, str, str, str, str, str]] = []
    web = results.get("webhook")
    if web:
        fv, base = web["flowvault"], web["baseline"]
        ratio = fv["completed_per_s"] / base["completed_per_s"] if base["completed_per_s"] else float("nan")
        unfinished = f" ({fv['unfinished']} unfinished at deadline)" if fv.get("unfinished") else ""
        table += [
            ("1 webhook→run (SQLite)", f"completed runs/s, N={web['n']} c={web['concurrency']}{unfinished}",
             _num(fv["completed_per_s"], 1), f"bare {_num(base['completed_per_s'], 1)}", _num(ratio),
             f"≥ 0.60 x bare: {_verdict(ratio >= 0.6)}"),
            ("", "POST→completion p50 / p99 (s)", f"{_num(fv['latency_p50_s'])} / {_num(fv['latency_p99_s'])}",
             f"bare {_num(base['latency_p50_s'], 3)} / {_num(base['latency_p99_s'], 3)}", "", "—"),
            ("", "webhook-accept p99 (s, hey)", _num(fv["accept"]["p99_s"], 3),
             f"bare {_num(base['latency_p99_s'], 3)}", _num(fv["accept"]["p99_s"] / base["latency_p99_s"]),
             f"≤ bare: {_verdict(fv['accept']['p99_s'] <= base['latency_p99_s'])}"),
            ("", "peak RSS of the server", _mb(fv["peak_rss_bytes"]), f"bare {_mb(base['peak_rss_bytes'])}", "",
             f"≤ 300 MB: {_verdict(fv['peak_rss_bytes'] <= 300 * 1024 * 1024)}"),
            ("", "cold start: process start → first 202 (s)", _num(fv["cold_start_s"]), "", "",
             f"≤ 2 s: {_verdict(fv['cold_start_s'] <= 2.0)}"),
            ("", "server CPU per run (ms, all threads)", _num(fv["cpu_ms_per_run"], 1),
             f"bare {_num(base['cpu_ms_per_run'], 1)}", _num(fv["cpu_ms_per_run"] / base["cpu_ms_per_run"], 1), "—"),
        ]
        if base.get("bracket"):
            table.append(("", "bare baseline before / after flowvault (runs/s)",
                          f"{_num(base['bracket'][0], 1)} / {_num(base['bracket'][1], 1)}", "", "", "noise check"))
        whatif = web.get("whatif")
        if whatif:
            ratio = whatif["completed_per_s"] / base["completed_per_s"]
            table += [
                (f"1w what-if: {whatif['experiments']}", f"completed runs/s, N={whatif['n']} (experiment, not shipped)",
                 _num(whatif["completed_per_s"], 1), f"bare {_num(base['completed_per_s'], 1)}", _num(ratio), "—"),
                ("", "p50 / p99 (s); CPU per run (ms)",
                 f"{_num(whatif['latency_p50_s'])} / {_num(whatif['latency_p99_s'])}; "
                 f"{_num(whatif['cpu_ms_per_run'], 1)}", "", "", "—"),
            ]
    table += [
        ("1c Celery, 1 worker", "completed runs/s", NOT_MEASURED_CELERY, "", "", "≥ 0.8 x embedded per core"),
        ("1c Celery, 2 workers", "completed runs/s", NOT_MEASURED_CELERY, "", "", "≥ 1.7 x 1 worker"),
    ]
    cred = results.get("credential")
    if cred:
        table += [
            ("2 credential overhead", "per-run CPU, with / without (ms, in-process)",
             f"{_num(cred['with']['cpu_median_ms'], 3)} / {_num(cred['without']['cpu_median_ms'], 3)}", "",
             _num(cred["cpu_ratio"], 3), f"≤ 1.05: {_verdict(cred['cpu_ratio'] <= 1.05)}"),
            ("", "per-run wall, with / without (ms, median)",
             f"{_num(cred['with']['wall_median_ms'], 3)} / {_num(cred['without']['wall_median_ms'], 3)}", "",
             _num(cred["wall_ratio"], 3), "—"),
        ]
    red = results.get("redaction")
    if red:
        shape = f"{red['text_chars'] / 1e6:g} MB, {red['secrets']} secrets, {red['patterns']} patterns"
        regex = red["regex_alternation"]
        table += [
            ("3 redaction", f"MB/s vs regex alternation ({shape})", _num(red["flowvault"]["mb_per_s"], 1),
             f"regex {_num(regex['mb_per_s'], 3)}{' (extrapolated)' if regex['extrapolated'] else ''}",
             _num(red["ratio_vs_regex"], 0), f"≥ 10x: {_verdict(red['ratio_vs_regex'] >= 10)}"),
            ("", "MB/s vs str.replace loop", _num(red["flowvault"]["mb_per_s"], 1),
             f"replace {_num(red['replace_loop']['mb_per_s'], 2)}", _num(red["ratio_vs_replace_loop"], 1), "—"),
            ("", "build (ms)", _num(red["build"]["flowvault_s"] * 1000, 1),
             f"regex compile {_num(red['build']['regex_compile_s'] * 1000, 1)}", "", "—"),
        ]
    scale = results.get("scale")
    if scale:
        sizes = [key for key in scale if key.isdigit()]
        small, large = scale[sizes[0]], scale[sizes[-1]]
        label = f"{int(sizes[-1]):,} / {int(sizes[0]):,} secrets"
        for key, name in (("list_s", "secret list page (s)"), ("resolve_s", "run-time resolve (ms)"),
                          ("save_s", "workflow save (s)")):
            factor = 1000 if key == "resolve_s" else 1
            ratio = scale["ratios"][key]
            table.append((f"4 scale ({scale['workflows']:,} workflows)" if key == "list_s" else "",
                          f"{name}, {label}", _num(large[key] * factor, 3), _num(small[key] * factor, 3),
                          _num(ratio, 2), f"≤ 1.5: {_verdict(ratio <= 1.5)}"))
        table.append(("", f"save at {int(sizes[-1]):,}: decrypt all + redactor check (s)",
                      f"{_num(large['hardcoded_decrypt_all_s'])} + {_num(large['hardcoded_redactor_check_s'])}",
                      f"{_num(small['hardcoded_decrypt_all_s'], 3)} + {_num(small['hardcoded_redactor_check_s'], 3)}",
                      "", "—"))
    return table


def markdown(table: list[tuple[str, str, str, str, str, str]]) -> str:
    header = ("benchmark", "figure", "flowvault", "reference", "ratio", "target")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in table]
    return "\n".join(lines)
