"""The scan: load and decrypt every secret, build one automaton, search the database and the files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from flowvault.deps import AppState
from flowvault.leakscan.database import layout, scan_database
from flowvault.leakscan.decrypt import load_secrets
from flowvault.leakscan.files import scan_files
from flowvault.leakscan.forms import patterns_of
from flowvault.leakscan.report import WITHHELD, Report
from flowvault.leakscan.scanner import Scanner


class Progress(Protocol):
    def start(self, total_rows: int) -> None: ...

    def advance(self, rows: int) -> None: ...


class _Silent:
    def start(self, total_rows: int) -> None:
        pass

    def advance(self, rows: int) -> None:
        pass


async def scan(state: AppState, *, paths: Sequence[Path] = (), progress: Progress | None = None) -> Report:
    """Searches the database and ``paths`` for every current secret in every form the redactor masks."""
    progress = progress or _Silent()
    report = Report()
    async with state.sessions() as session:
        secrets, report.errors = await load_secrets(session, state.vault)
    scanner = Scanner(pattern for secret in secrets for pattern in patterns_of(secret))
    report.secrets, report.patterns = len(secrets), len(scanner)
    # A secret named after (part of) a value would leak through the report itself.
    names_shown = {s.id: WITHHELD if scanner.holds_secret(s.name) else s.name for s in secrets}
    tables = await layout(state.engine)
    progress.start(sum(rows for _table, rows in tables))
    await scan_database(
        state.engine, [t for t, _rows in tables], scanner, report, names_shown=names_shown, advance=progress.advance
    )
    scan_files(paths, scanner, report, names_shown=names_shown)
    return report
