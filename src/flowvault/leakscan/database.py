"""Every column of every table, found by inspecting the live schema (a table added tomorrow is scanned
without a change here), rows streamed in batches so a large database is never held in memory.

Every column but the binary ones is read as text (cast in SQL: JSON as its stored text, which the
driver would otherwise decode, and no time spent converting dates); when a JSON text holds escapes,
its decoded strings are searched too. Binary columns are searched as bytes. Only the AEAD blobs
themselves are skipped: they are ciphertext and cannot hold a plaintext.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import JSON, ColumnElement, Connection, LargeBinary, Text, cast, column, func, inspect, select, table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import TableClause
from sqlalchemy.types import TypeEngine

from flowvault.leakscan.forms import Origin
from flowvault.leakscan.report import WITHHELD, Hit, Report
from flowvault.leakscan.scanner import Scanner, as_bytes

CIPHERTEXT_COLUMNS = frozenset({("sealed_fields", "ciphertext"), ("workspace_keys", "wrapped_key")})
BATCH_ROWS = 1000


@dataclass(frozen=True)
class TableLayout:
    name: str
    columns: tuple[tuple[str, TypeEngine[Any]], ...]
    primary_key: tuple[str, ...]

    @cached_property
    def clause(self) -> TableClause:
        return table(self.name, *(column(name, kind) for name, kind in self.columns))


def _inspect(connection: Connection) -> list[TableLayout]:
    inspector = inspect(connection)
    layouts = []
    for name in sorted(inspector.get_table_names()):
        columns = tuple((c["name"], c["type"]) for c in inspector.get_columns(name))
        primary_key = tuple(inspector.get_pk_constraint(name).get("constrained_columns") or ())
        layouts.append(TableLayout(name, columns, primary_key))
    return layouts


async def layout(engine: AsyncEngine) -> list[tuple[TableLayout, int]]:
    """Every table of the database with its row count."""
    async with engine.connect() as connection:
        tables = await connection.run_sync(_inspect)
        return [(t, int(await connection.scalar(select(func.count()).select_from(t.clause)) or 0)) for t in tables]


def _json_strings(text: str) -> Iterator[str]:
    """The strings (keys included) inside a JSON document; nothing when it is not JSON."""
    try:
        stack: list[Any] = [json.loads(text)]
    except ValueError:
        return
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _cells(value: Any, is_json: bool) -> list[bytes]:
    """What one stored value is searched as: its bytes, and for JSON holding escapes its decoded strings."""
    data = value.encode("utf-8", "surrogateescape") if type(value) is str else as_bytes(value)
    if is_json and b"\\" in data:
        return [data, *(as_bytes(text) for text in _json_strings(data.decode("utf-8", "surrogateescape")))]
    return [data]


def _shown(scanner: Scanner, value: Any) -> str:
    """A key value from the data as it may be printed: withheld when it holds a secret itself."""
    text = "NULL" if value is None else str(value)
    return WITHHELD if scanner.holds_secret(text) else text


def _selected(layout: TableLayout, report: Report) -> tuple[list[str], list[ColumnElement[Any]], list[bool]]:
    clause = layout.clause
    names: list[str] = []
    columns: list[ColumnElement[Any]] = []
    is_json: list[bool] = []
    for name, kind in layout.columns:
        if (layout.name, name) in CIPHERTEXT_COLUMNS:
            report.skipped_columns.append(f"{layout.name}.{name}")
            continue
        names.append(name)
        columns.append(clause.c[name] if isinstance(kind, LargeBinary) else cast(clause.c[name], Text))
        is_json.append(isinstance(kind, JSON))
    return names, columns, is_json


def _order(origin: Origin) -> tuple[str, str, str]:
    return origin.secret_id, origin.field, origin.form


async def scan_table(
    connection: AsyncConnection,
    layout: TableLayout,
    scanner: Scanner,
    report: Report,
    *,
    names_shown: dict[str, str],
    advance: Callable[[int], None],
) -> None:
    names, columns, is_json = _selected(layout, report)
    keys = [layout.clause.c[name] for name in layout.primary_key]
    statement = select(*keys, *columns).execution_options(yield_per=BATCH_ROWS)
    number = 0
    result = await connection.stream(statement)
    async for partition in result.partitions():
        cells: list[bytes] = []
        owners: list[tuple[int, int]] = []  # (row in partition, column) of each cell
        for row_index, row in enumerate(partition):
            for column_index, (value, json_column) in enumerate(zip(row[len(keys) :], is_json, strict=True)):
                if value is not None:
                    found = _cells(value, json_column)
                    cells.extend(found)
                    owners.extend([(row_index, column_index)] * len(found))
        hits: dict[tuple[int, int], set[Origin]] = {}
        for cell, origin in scanner.find_in_cells(cells):
            hits.setdefault(owners[cell], set()).add(origin)
        for (row_index, column_index), origins in sorted(hits.items()):
            row = partition[row_index]
            key = tuple((k, _shown(scanner, v)) for k, v in zip(layout.primary_key, row[: len(keys)], strict=True))
            for origin in sorted(origins, key=_order):
                report.hits.append(
                    Hit(
                        origin,
                        names_shown[origin.secret_id],
                        table=layout.name,
                        column=names[column_index],
                        row=key or (("row", str(number + row_index + 1)),),
                    )
                )
        number += len(partition)
        report.rows += len(partition)
        advance(len(partition))


async def scan_database(
    engine: AsyncEngine,
    tables: list[TableLayout],
    scanner: Scanner,
    report: Report,
    *,
    names_shown: dict[str, str],
    advance: Callable[[int], None],
) -> None:
    async with engine.connect() as connection:
        for layout in tables:
            await scan_table(connection, layout, scanner, report, names_shown=names_shown, advance=advance)
            report.tables += 1
