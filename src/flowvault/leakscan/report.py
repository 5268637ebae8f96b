"""What a scan found: hits (where, which secret, which form) and errors. Nothing here holds a value.

Every string that goes into a hit and comes from the scanned data (a row's primary key values, a
secret's name) is checked with the scanner first and withheld if it holds a secret itself: the
report of a leak must not be a leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowvault.leakscan.forms import Origin

WITHHELD = "[withheld: holds a secret value]"


@dataclass(frozen=True)
class Hit:
    origin: Origin
    secret_name: str
    """The secret's name as it may be shown (``WITHHELD`` when the name itself holds a secret)."""
    table: str | None = None
    column: str | None = None
    row: tuple[tuple[str, str], ...] | None = None
    """The row's primary key as (column, value) pairs; values holding a secret are withheld."""
    file: str | None = None
    line: int | None = None

    @property
    def location(self) -> str:
        if self.file is not None:
            return f"{self.file}:{self.line}"
        key = ", ".join(f"{name}={value}" for name, value in self.row or ())
        return f"{self.table}.{self.column} [{key}]"

    def describe(self) -> str:
        o = self.origin
        return (
            f"{self.location}: secret '{self.secret_name}' (id {o.secret_id}, workspace {o.workspace_id}), "
            f"field '{o.field}', {o.form} form"
        )

    def as_json(self) -> dict[str, Any]:
        where: dict[str, Any]
        if self.file is not None:
            where = {"source": "file", "file": self.file, "line": self.line}
        else:
            where = {"source": "database", "table": self.table, "column": self.column, "row": dict(self.row or ())}
        return {
            **where,
            "secret_id": self.origin.secret_id,
            "secret_name": self.secret_name,
            "workspace_id": self.origin.workspace_id,
            "field": self.origin.field,
            "form": self.origin.form,
        }


@dataclass
class Report:
    secrets: int = 0
    patterns: int = 0
    tables: int = 0
    rows: int = 0
    files: int = 0
    skipped_columns: list[str] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 on any hit (a leak is the news, even when part of the scan failed), 2 on errors, 0 clean."""
        if self.hits:
            return 1
        return 2 if self.errors else 0

    def summary(self) -> str:
        scanned = f"{self.secrets} secret(s) in {self.patterns} form(s); {self.tables} table(s), {self.rows} row(s)"
        if self.files:
            scanned += f", {self.files} file(s)"
        if self.hits:
            return f"{len(self.hits)} leak(s) found ({scanned})"
        if self.errors:
            return f"scan incomplete: {len(self.errors)} error(s) ({scanned})"
        return f"no secret found ({scanned})"

    def as_json(self) -> dict[str, Any]:
        return {
            "clean": not self.hits and not self.errors,
            "secrets": self.secrets,
            "patterns": self.patterns,
            "tables": self.tables,
            "rows": self.rows,
            "files": self.files,
            "skipped_columns": self.skipped_columns,
            "hits": [hit.as_json() for hit in self.hits],
            "errors": self.errors,
        }
