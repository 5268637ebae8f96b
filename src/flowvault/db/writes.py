"""The run path's database work — its write transactions (queue a run, claim it, record its steps
and outcome) and its lookups (the hook, the credential) — on one of two executors.

- On a SQLite file: straight on two ``sqlite3`` connections this process keeps for them (one writes,
  one reads), with no pool, no session and no greenlet in between. Measured here: a SELECT, an
  UPDATE and a commit through an ``AsyncSession`` cost ~700 µs of CPU, on ``sqlite3`` ~35 µs; the
  run path makes three such transactions per run, and two lookups. The statements are the same
  Core statements: each is compiled once for SQLite (per set of keys), its parameters pass through
  the column types' bind processors and its rows through their result processors, as SQLAlchemy
  passes them. Writers of the database take turns at the same write gate as the pooled connections
  (``inline_sqlite``), so the writing connection never waits for SQLite's lock on one of ours. The
  reading connection is in autocommit: each SELECT sees what is committed (WAL: a reader never
  waits for a writer).
- Anywhere else (PostgreSQL, an in-memory SQLite): an ``AsyncSession``.

Either way a transaction commits when its block ends and rolls back when the block raises.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import Select, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert, UpdateBase

from flowvault.db import inline_sqlite
from flowvault.lru import LRU

COMPILED_STATEMENTS = 64
MULTI_ROW_INSERT = 500
"""Rows per INSERT statement (PostgreSQL takes at most 65,535 parameters in one)."""
_GIVEN = object()


class Rows(Protocol):
    dialect: str
    """The database's dialect name ("sqlite", "postgresql")."""

    async def rows(self, statement: Returning, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Executes a SELECT, or a statement with RETURNING; its rows by column key."""
        ...


class Writes(Rows, Protocol):
    async def execute(self, statement: UpdateBase, params: Mapping[str, Any]) -> int:
        """Executes one statement; the number of rows it changed."""
        ...

    async def executemany(self, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
        """Executes one statement once per row (nothing for no rows)."""
        ...


Returning = Select[Any] | UpdateBase
WriteTransactions = Callable[[], AbstractAsyncContextManager[Writes]]
ReadRows = Callable[[], AbstractAsyncContextManager[Rows]]


class SessionWrites:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    async def execute(self, statement: UpdateBase, params: Mapping[str, Any]) -> int:
        result = await self.session.execute(statement, dict(params))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def executemany(self, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
        """An INSERT's rows go in multi-row statements, anything else one statement per row: a list of
        parameters would make SQLAlchemy call the driver's ``executemany``, which psycopg runs in
        pipeline mode, polling for the server's answer (measured: 6 % of a Celery worker's CPU for a
        run's two steps and its audit entry)."""
        if isinstance(statement, Insert) and len({frozenset(row) for row in rows}) == 1:
            for start in range(0, len(rows), MULTI_ROW_INSERT):
                chunk = rows[start : start + MULTI_ROW_INSERT]
                await self.session.execute(statement.values([dict(row) for row in chunk]))
            return
        for row in rows:
            await self.session.execute(statement, dict(row))

    async def rows(self, statement: Returning, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [dict(row) for row in (await self.session.execute(statement, dict(params))).mappings()]


def session_transactions(sessions: async_sessionmaker[AsyncSession]) -> WriteTransactions:
    @asynccontextmanager
    async def transaction() -> AsyncIterator[Writes]:
        async with sessions() as session:
            yield SessionWrites(session)
            await session.commit()

    return transaction


def session_reads(reads: async_sessionmaker[AsyncSession]) -> ReadRows:
    @asynccontextmanager
    async def reading() -> AsyncIterator[Rows]:
        async with reads() as session:
            yield SessionWrites(session)

    return reading


class _Compiled:
    """A statement compiled for SQLite for one set of keys: its SQL and how to make its parameters."""

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
        self._columns = [
            (str(key), column.type.dialect_impl(dialect).result_processor(dialect, None))
            for key, column in columns.items()
        ]

    def row(self, values: Sequence[Any]) -> dict[str, Any]:
        return {
            key: value if process is None else process(value)
            for (key, process), value in zip(self._columns, values, strict=True)
        }

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


class SQLiteWrites:
    """Executes on one of the writer's connections (the writing one: inside its open transaction)."""

    dialect = "sqlite"

    def __init__(self, writer: SQLiteWriter, connection: sqlite3.Connection) -> None:
        self._writer = writer
        self._connection = connection

    async def execute(self, statement: UpdateBase, params: Mapping[str, Any]) -> int:
        compiled = self._writer.compiled(statement, params)
        try:
            return self._connection.execute(compiled.sql, compiled.parameters(params)).rowcount
        except sqlite3.Error as exc:
            raise _as_sqlalchemy_error(compiled.sql, exc) from exc

    async def rows(self, statement: Returning, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        compiled = self._writer.compiled(statement, params)
        try:
            found = self._connection.execute(compiled.sql, compiled.parameters(params)).fetchall()
        except sqlite3.Error as exc:
            raise _as_sqlalchemy_error(compiled.sql, exc) from exc
        return [compiled.row(values) for values in found]

    async def executemany(self, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            compiled = self._writer.compiled(statement, rows[0])
            try:
                self._connection.executemany(compiled.sql, [compiled.parameters(row) for row in rows])
            except sqlite3.Error as exc:
                raise _as_sqlalchemy_error(compiled.sql, exc) from exc


def _as_sqlalchemy_error(sql: str, exc: sqlite3.Error) -> Exception:
    """The error SQLAlchemy raises for the same failure (IntegrityError for a constraint...), so callers
    handle one family whichever executor ran. The parameters stay out of it: they may hold run data."""
    return DBAPIError.instance(sql, None, exc, sqlite3.Error)


class SQLiteWriter:
    """The connections of this process for the run path's work on a SQLite file: one for write
    transactions, one for reads."""

    def __init__(self, database: str, dialect: Dialect) -> None:
        self.database = database
        self.dialect = dialect
        self._connection: sqlite3.Connection | None = None
        self._read_connection: sqlite3.Connection | None = None
        # Statements are module-level constants; a bound keeps a caller that builds them per call from growing it.
        self._compiled: LRU[tuple[Returning, tuple[str, ...]], _Compiled] = LRU(COMPILED_STATEMENTS)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.database, isolation_level=None, check_same_thread=False, timeout=30)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
            connection.execute(f"PRAGMA {pragma}")
        return connection

    @property
    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    @property
    def read_connection(self) -> sqlite3.Connection:
        if self._read_connection is None:
            self._read_connection = self._connect()
        return self._read_connection

    def compiled(self, statement: Returning, values: Mapping[str, Any]) -> _Compiled:
        keys = tuple(values)
        found = self._compiled.get((statement, keys))
        if found is None:
            found = self._compiled.put((statement, keys), _Compiled(statement, list(keys), self.dialect))
        return found

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Writes]:
        gate = await inline_sqlite.acquire_write_gate(self.database)
        try:
            connection = self.connection
            connection.execute("BEGIN IMMEDIATE")
            yield SQLiteWrites(self, connection)
            connection.execute("COMMIT")
        finally:
            if self._connection is not None and self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
            gate.release()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Rows]:
        yield SQLiteWrites(self, self.read_connection)

    def close(self) -> None:
        connections = (self._connection, self._read_connection)
        self._connection = self._read_connection = None
        for connection in connections:
            if connection is not None:
                connection.close()


def direct_access(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], reads: async_sessionmaker[AsyncSession]
) -> tuple[WriteTransactions, ReadRows]:
    """Direct transactions and reads on a SQLite file (closed with the engine), else sessions."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        return session_transactions(sessions), session_reads(reads)
    writer = SQLiteWriter(database, engine.dialect)
    event.listen(engine.sync_engine, "engine_disposed", lambda _engine: writer.close())
    return writer.transaction, writer.reading
