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

NOT_MEASURED_CELERY = "not measured in this run (section celery: `--only celery`)"
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
        ratios = web.get("round_ratios") or []
        which = f", round {fv['round'] + 1} of {len(ratios)} (median ratio)" if len(ratios) > 1 else ""
        table += [
            ("1 webhook→run (SQLite)", f"completed runs/s, N={web['n']} c={web['concurrency']}{which}{unfinished}",
             _num(fv["completed_per_s"], 1), f"bare {_num(base['completed_per_s'], 1)}", _num(ratio),
             f"≥ 0.60 x bare: {_verdict(ratio >= 0.6)}"),
            ("", "POST→completion p50 / p99 (s)", f"{_num(fv['latency_p50_s'])} / {_num(fv['latency_p99_s'])}",
             f"bare {_num(base['latency_p50_s'], 3)} / {_num(base['latency_p99_s'], 3)}", "", "—"),
            ("", "webhook-accept p99 (s, hey)", _num(fv["accept"]["p99_s"], 3),
             f"bare {_num(base['latency_p99_s'], 3)}", _num(fv["accept"]["p99_s"] / base["latency_p99_s"]),
             f"≤ bare: {_verdict(fv['accept']['p99_s'] <= base['latency_p99_s'])}"),
            ("", "peak RSS of the server", _mb(fv["peak_rss_bytes"]), f"bare {_mb(base['peak_rss_bytes'])}", "",
             f"≤ 300 MB: {_verdict(fv['peak_rss_bytes'] <= 300 * 1024 * 1024)}"),
            ("", f"cold start: process start → first 202 (s, median of {len(fv.get('cold_starts_s', [0]))})",
             _num(fv["cold_start_s"]), "", "",
             f"≤ 2 s: {_verdict(fv['cold_start_s'] <= 2.0)}"),
            ("", "server CPU per run (ms, all threads)", _num(fv["cpu_ms_per_run"], 1),
             f"bare {_num(base['cpu_ms_per_run'], 1)}", _num(fv["cpu_ms_per_run"] / base["cpu_ms_per_run"], 1), "—"),
        ]
        if fv.get("drain"):
            table.append(_drain_row(fv["drain"], "", "serve", "—"))
        if len(ratios) > 1:
            table.append(("", "each round's ratio to the better bare run beside it", " / ".join(map(_num, ratios)),
                          "", "", "noise check"))
        if base.get("bracket"):
            table.append(("", "bare baseline runs, before, between and after the rounds (runs/s)",
                          " / ".join(_num(value, 1) for value in base["bracket"]), "", "", "noise check"))
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
    table += celery_rows(results)
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
        counted = cred.get("instructions")
        if counted and "skipped" in counted:
            table.append(("", "per-run instructions (valgrind)", f"skipped: {counted['skipped']}", "", "", "—"))
        elif counted:
            per_run = counted["instructions_per_run"]
            table.append(
                ("", f"per-run instructions, with / without (millions; valgrind, {counted['runs']} → "
                 f"{2 * counted['runs']} runs)", f"{per_run['with'] / 1e6:.3f} / {per_run['without'] / 1e6:.3f}", "",
                 _num(counted["ratio"], 3), f"≤ 1.05: {_verdict(counted['ratio'] <= 1.05)}")
            )
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
        if "start_settled_s" in large:
            table.append(("", "first save after a restart (s) / restarted server idle after (s)",
                          f"{_num(large['save_cold_s'], 3)} / {_num(large['start_settled_s'], 1)}",
                          f"{_num(small['save_cold_s'], 3)} / {_num(small['start_settled_s'], 1)}", "", "—"))
    return table


def ratio_of(a: float | None, b: float | None) -> float:
    return a / b if a is not None and b else float("nan")


def _unfinished(mode: dict[str, Any]) -> str:
    return f" ({mode['unfinished']} unfinished at deadline)" if mode.get("unfinished") else ""


def _machine_row(mode: dict[str, Any]) -> tuple[str, str, str, str, str, str]:
    busy = mode.get("machine_cores_busy") or {}
    others = busy["all"] - busy["benchmark"] if busy else None
    return ("", "machine cores busy in the window: all / this benchmark / other processes",
            f"{_num(busy.get('all'))} / {_num(busy.get('benchmark'))} / {_num(others)}", "", "", "noise check")


def _drained(mode: dict[str, Any] | None) -> float | None:
    drain = (mode or {}).get("drain")
    return drain["drained_per_s"] if drain else None


def _drain_row(
    drain: dict[str, Any], reference: str, executing: str, target: str, ratio: float | None = None
) -> tuple[str, str, str, str, str, str]:
    """Execution capacity (``bench.webhook.drain``): queued runs drained per second, no load generator."""
    return ("", f"queued runs drained/s ({drain['drained']} queued while the limit was {drain['fill_limit']}, "
            f"then raised; {executing} cores busy {_num(drain['executing_cores_busy'])})",
            _num(drain["drained_per_s"], 1), reference, _num(ratio) if ratio is not None else "", target)


def celery_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """Benchmark 1c (bench/celery_mode.py): ratios against the embedded (SQLite) row of the same run,
    or the embedded reference the celery section made itself when the webhook section did not run."""
    cel = results.get("celery")
    if not isinstance(cel, dict):
        return [
            ("1c Celery, 1 worker", "completed runs/s", NOT_MEASURED_CELERY, "", "", "≥ 0.8 x embedded per core"),
            ("1c Celery, 2 workers", "completed runs/s", NOT_MEASURED_CELERY, "", "", "≥ 1.7 x 1 worker"),
        ]
    embedded = (results.get("webhook") or {}).get("flowvault") or cel.get("embedded_sqlite")
    ref = embedded["completed_per_s"] if embedded else None
    ref_cpu = embedded["cpu_ms_per_run"] if embedded else None
    ref_label = f"embedded {_num(ref, 1)}" if ref is not None else "embedded: not measured"
    modes, k, r = cel["modes"], cel["worker_concurrency"], cel.get("worker_runs_per_process", 1)
    pin = "pinned, 1 core each" if cel["pinned"] else "not pinned"
    table: list[tuple[str, str, str, str, str, str]] = []

    def detail(mode: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
        cpu = mode["cpu_ms_per_run"]
        own = cpu["serve"] + cpu["workers"]
        return [
            ("", "POST→completion p50 / p99 (s)", f"{_num(mode['latency_p50_s'])} / {_num(mode['latency_p99_s'])}",
             f"embedded {_num(embedded['latency_p50_s'])} / {_num(embedded['latency_p99_s'])}" if embedded else "",
             "", "—"),
            ("", "CPU per run (ms): serve + workers = flowvault; PostgreSQL; Redis; all",
             f"{_num(cpu['serve'], 1)} + {_num(cpu['workers'], 1)} = {_num(own, 1)}; {_num(cpu['postgresql'], 1)}; "
             f"{_num(cpu['redis'], 1)}; {_num(cpu['all'], 1)}",
             f"embedded serve {_num(ref_cpu, 1)}", _num(ratio_of(own, ref_cpu)), "—"),
            _machine_row(mode),
            *([("", "SQL statements per run (serve + workers; pg_stat_statements)",
                _num(mode["sql_statements_per_run"]["total"], 1), "", "", "—")]
              if mode.get("sql_statements_per_run") else []),
        ]

    ref_drained = _drained(embedded)
    drained_label = f"embedded {_num(ref_drained, 1)}" if ref_drained is not None else "embedded: not measured"
    emb_pg = modes.get("embedded_pg")
    if emb_pg:
        table.append(("1c embedded on PostgreSQL", f"completed runs/s, N={emb_pg['n']}{_unfinished(emb_pg)}",
                      _num(emb_pg["completed_per_s"], 1), ref_label, _num(ratio_of(emb_pg["completed_per_s"], ref)),
                      "(database effect, no target)"))
        if emb_pg.get("drain"):
            table.append(_drain_row(emb_pg["drain"], drained_label, "serve", "—",
                                    ratio_of(_drained(emb_pg), ref_drained)))
        table += detail(emb_pg)
    one, two = cel.get("one_worker") or modes.get("celery_1w"), modes.get("celery_2w")
    ones = [mode for key in ("celery_1w", "celery_1w_again") if (mode := modes.get(key))]
    one_drained = None
    if one:
        ratio = ratio_of(one["completed_per_s"], ref)
        table.append(("1c Celery, 1 worker", f"completed runs/s, N={one['n']}, 1 worker x {k} process(es) x {r} runs, "
                      f"{pin}{_unfinished(one)}", _num(one["completed_per_s"], 1), ref_label, _num(ratio),
                      f"≥ 0.8 x embedded per core: {_verdict(None if math.isnan(ratio) else ratio >= 0.8)}"))
        if emb_pg:  # the executor's own cost: the same database on both sides
            same_db = ratio_of(one["completed_per_s"], emb_pg["completed_per_s"])
            verdict = _verdict(None if math.isnan(same_db) else same_db >= 0.8)
            reference = f"embedded on PostgreSQL {_num(emb_pg['completed_per_s'], 1)}"
            figure = "completed runs/s against embedded on the same PostgreSQL"
            table.append(("", figure, _num(one["completed_per_s"], 1), reference, _num(same_db),
                          f"≥ 0.8 (same database): {verdict}"))
        best = max((m for m in ones if m.get("drain")), key=lambda m: m["drain"]["drained_per_s"], default=None)
        one_drained = _drained(best)
        if best is not None:
            ratio = ratio_of(one_drained, ref_drained)
            verdict = _verdict(None if math.isnan(ratio) else ratio >= 0.8)
            table.append(_drain_row(best["drain"], drained_label, "worker", f"≥ 0.8 x embedded per core: {verdict}",
                                    ratio))
        table += detail(one)
        table.append(("", "cores the worker kept busy (CPU s / completion span)", _num(one.get("worker_cores_busy")),
                      "", "", "1.0 = its core saturated"))
        counted = cel.get("worker_instructions") or {}
        if "instructions_per_run" in counted:
            table.append(("", f"a worker's instructions per run (valgrind; drains of {counted['runs']} and "
                          f"{2 * counted['runs']} runs, no credential)",
                          f"{counted['instructions_per_run'] / 1e6:.3f} M", "", "", "for comparing commits"))
        if len(one.get("bracket") or ()) > 1:
            table.append(("", "1 worker before / after 2 workers (runs/s; the faster is used)",
                          " / ".join(_num(value, 1) for value in one["bracket"]), "", "", "noise check"))
    if two:
        ratio = ratio_of(two["completed_per_s"], one["completed_per_s"] if one else None)
        table.append(("1c Celery, 2 workers", f"completed runs/s, N={two['n']}, 2 workers x {k} process(es) x {r} "
                      f"runs, {pin}{_unfinished(two)}", _num(two["completed_per_s"], 1),
                      f"1 worker {_num(one['completed_per_s'], 1)}" if one else "", _num(ratio),
                      f"≥ 1.7 x 1 worker: {_verdict(None if math.isnan(ratio) else ratio >= 1.7)}"))
        if two.get("drain") and one_drained is not None:
            ratio = ratio_of(_drained(two), one_drained)
            table.append(_drain_row(two["drain"], f"1 worker {_num(one_drained, 1)}", "workers",
                                    f"≥ 1.7 x 1 worker: {_verdict(None if math.isnan(ratio) else ratio >= 1.7)}",
                                    ratio))
        table += detail(two)
        table.append(("", "cores the workers kept busy (CPU s / completion span)", _num(two.get("worker_cores_busy")),
                      "", "", "2.0 = both cores saturated"))
    if cel.get("machine_ceiling_runs_per_s"):
        table.append(("", f"ceiling here: {cel['cores']} cores / all CPU per 1-worker run (runs/s); x 1 worker",
                      _num(cel["machine_ceiling_runs_per_s"], 1), f"1 worker {_num(one['completed_per_s'], 1)}",
                      _num(cel["scaling_bound"]), "bounds the 2-vs-1 ratio"))
    return table


def celery_note(cel: dict[str, Any]) -> str:
    """How the Celery ratios are computed, printed under the table."""
    note = [f"Celery rows ({cel['versions']['postgresql'].split()[0]} / Redis {cel['versions']['redis']}, "
            f"{cel['cores']} cores): {cel['definition']}"]
    if cel.get("machine_ceiling_runs_per_s"):
        note.append(
            f"2 vs 1 worker is bounded by the machine: every run also costs serve, PostgreSQL, Redis, the upstream "
            f"and hey CPU on the same {cel['cores']} cores. Even if 2 workers cost per run no more than 1 did, "
            f"at most {cel['cores']} cores / all CPU per run of the 1-worker run = "
            f"{cel['machine_ceiling_runs_per_s']:.1f} runs/s fit here, i.e. {cel['scaling_bound']:.2f} x the "
            "1-worker rate (less while other processes use the machine): 2-vs-1 cannot show more than that."
        )
    return "\n".join(note)


def markdown(table: list[tuple[str, str, str, str, str, str]]) -> str:
    header = ("benchmark", "figure", "flowvault", "reference", "ratio", "target")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in table]
    return "\n".join(lines)
