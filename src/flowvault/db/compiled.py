"""Core statements compiled once, for the run path's direct executors (``db.writes``): each statement
is compiled for the database's dialect once per set of keys, its parameters pass through the column
types' bind processors and its rows through their result processors, as SQLAlchemy passes them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Select, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert, UpdateBase

from flowvault.lru import LRU

COMPILED_STATEMENTS = 64
MULTI_ROW_INSERT = 500
"""Rows per multi-row INSERT: PostgreSQL takes at most 65,535 parameters in one statement."""
_GIVEN = object()

Returning = Select[Any] | UpdateBase
Bound = tuple[Returning, Mapping[str, Any]]
"""A statement and its parameters."""


class Compiled:
    """A statement compiled for one dialect and one set of keys: its SQL and how to make its parameters."""

    def __init__(self, statement: Returning, keys: list[str], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        assert isinstance(compiled, SQLCompiler)
        if compiled.insert_prefetch or compiled.update_prefetch:
            # Python-side column defaults are SQLAlchemy's execution context's job: give every column instead.
            raise ValueError(f"the statement needs column defaults run: {compiled}")
        self.sql = str(compiled)
        # Each positional parameter: the key it is given by, its bind processor, and its value when not given
        # (a literal in the statement, processed once) or _GIVEN when the caller must give it.
        self._order: list[tuple[str, Callable[[Any], Any] | None, Any]] = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            if bind.expanding or bind.callable is not None:
                raise ValueError(f"the statement has an expanding or computed parameter: {compiled}")
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            constant = _GIVEN if bind.required else bind.value if process is None else process(bind.value)
            self._order.append((bind.key, process, constant))
        # What a row holds, in order: a SELECT's columns, or what a statement RETURNs.
        columns = statement.selected_columns if isinstance(statement, Select) else statement.exported_columns
        self._types = [(str(key), column.type.dialect_impl(dialect)) for key, column in columns.items()]
        self._dialect = dialect
        self._columns: list[tuple[str, Callable[[Any], Any] | None]] | None = None

    def rows(self, found: Sequence[Sequence[Any]], description: Sequence[Any] | None) -> list[dict[str, Any]]:
        """The rows a cursor returned, by column key. The result processors are chosen on the first
        rows: some depend on the type the database reports (``description``'s type codes)."""
        if self._columns is None:
            codes = [column[1] for column in description] if description else [None] * len(self._types)
            self._columns = [
                (key, impl.result_processor(self._dialect, code))
                for (key, impl), code in zip(self._types, codes, strict=True)
            ]
        columns = self._columns
        return [
            {
                key: value if process is None else process(value)
                for (key, process), value in zip(columns, row, strict=True)
            }
            for row in found
        ]

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        params = []
        for key, process, constant in self._order:
            if key in values:
                value = values[key]
                params.append(value if process is None else process(value))
            elif constant is _GIVEN:
                raise ValueError(f"a value is required for the parameter {key!r} of: {self.sql}")
            else:
                params.append(constant)
        return tuple(params)


class Statements:
    """The compiled statements of one executor, bounded: statements are module-level constants, and a
    bound keeps a caller that builds them per call from growing it. Multi-row INSERTs have a bound of
    their own: one per row count, they must not push the run path's statements out."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._compiled: LRU[tuple[Any, ...], Compiled] = LRU(COMPILED_STATEMENTS)
        self._multi_row: LRU[tuple[Any, ...], Compiled] = LRU(COMPILED_STATEMENTS)

    def __len__(self) -> int:
        return len(self._compiled)

    def compiled(self, statement: Returning, values: Mapping[str, Any]) -> Compiled:
        keys = tuple(values)
        found = self._compiled.get((statement, keys))
        if found is None:
            found = self._compiled.put((statement, keys), Compiled(statement, list(keys), self.dialect))
        return found

    def multi_row(
        self, statement: Insert, rows: Sequence[Mapping[str, Any]]
    ) -> Iterator[tuple[Compiled, dict[str, Any]]]:
        """INSERTs of ``rows`` (which have the same keys), ``MULTI_ROW_INSERT`` rows each, and their
        parameters: row ``i``'s value of ``key`` is the parameter ``key__i``, typed as its column."""
        keys = tuple(rows[0])
        for start in range(0, len(rows), MULTI_ROW_INSERT):
            chunk = rows[start : start + MULTI_ROW_INSERT]
            cache_key = (statement, keys, len(chunk))
            found = self._multi_row.get(cache_key)
            if found is None:
                types = {key: statement.table.c[key].type for key in keys}
                many = statement.values(
                    [{key: bindparam(f"{key}__{i}", type_=types[key]) for key in keys} for i in range(len(chunk))]
                )
                found = self._multi_row.put(cache_key, Compiled(many, [], self.dialect))
            yield found, {f"{key}__{i}": row[key] for i, row in enumerate(chunk) for key in keys}


class RowsUnchanged(Exception):
    """A statement that had to change a row (``Writes.require``) changed none: its transaction wrote nothing."""


def as_sqlalchemy_error(
    sql: str, exc: Exception, dbapi_error: type[Exception], *, invalidated: bool = False
) -> Exception:
    """The error SQLAlchemy raises for the same failure (IntegrityError for a constraint...), so callers
    handle one family whichever executor ran. The parameters stay out of it: they may hold run data."""
    return DBAPIError.instance(sql, None, exc, dbapi_error, connection_invalidated=invalidated)
