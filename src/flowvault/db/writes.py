"""The run path's database work — its write transactions (queue a run, claim it, record its steps
and outcome) and its lookups (the hook, the credential) — on one of two executors.

- On a SQLite file: straight on two ``sqlite3`` connections this process keeps for them (one writes,
  one reads), with no pool, no session and no greenlet in between. Measured here: a SELECT, an
  UPDATE and a commit through an ``AsyncSession`` cost ~700 µs of CPU, on ``sqlite3`` ~35 µs; the
  run path makes three such transactions per run, and two lookups. Writers of the database take
  turns at the same write gate as the pooled connections (``inline_sqlite``), so the writing
  connection never waits for SQLite's lock on one of ours. The reading connection is in
  autocommit: each SELECT sees what is committed (WAL: a reader never waits for a writer).
  Transactions begun in the same turn of the event loop share one COMMIT (``SQLiteWriter``).
- On PostgreSQL: straight on psycopg's async connections (``direct_postgres``), statements whose
  results are not read sent in one flight with the next.
- On an in-memory SQLite (tests): an ``AsyncSession``.

The direct executors run the same Core statements, compiled once (``db.compiled``).

Either way a transaction commits when its block ends and rolls back when the block raises.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Update, UpdateBase

from flowvault.db import inline_sqlite
from flowvault.db.compiled import Bound, Returning, RowsUnchanged, Statements, as_sqlalchemy_error
from flowvault.db.direct_postgres import PostgresWriter


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

    async def add(self, statement: Returning, params: Mapping[str, Any]) -> None:
        """Executes one statement whose result the caller does not read. On PostgreSQL it goes to the
        server with the transaction's next statement or its commit, and so does its error."""
        ...

    async def executemany(self, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
        """Executes one statement once per row (nothing for no rows), as ``add`` does."""
        ...

    async def require(self, statement: Update, params: Mapping[str, Any]) -> None:
        """Executes an UPDATE that must change a row. When it changes none, the transaction fails with
        ``RowsUnchanged`` and writes nothing; on PostgreSQL that is known, and raised, where the
        statement's flight went (as for ``add``)."""
        ...

    async def commit_with(self, statements: Sequence[Bound]) -> list[list[dict[str, Any]]]:
        """Executes ``statements`` (each with its parameters) in order, commits the transaction and returns
        each one's rows; a statement after it begins a new transaction. On PostgreSQL they go to the
        server in one flight, with what waits and the ``COMMIT``; on a SQLite file the block's writes
        commit with its commit group, before the block returns."""
        ...


WriteTransactions = Callable[[], AbstractAsyncContextManager[Writes]]
ReadRows = Callable[[], AbstractAsyncContextManager[Rows]]


class SessionWrites:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    async def execute(self, statement: UpdateBase, params: Mapping[str, Any]) -> int:
        result = await self.session.execute(statement, dict(params))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def add(self, statement: Returning, params: Mapping[str, Any]) -> None:
        await self.session.execute(statement, dict(params))

    async def require(self, statement: Update, params: Mapping[str, Any]) -> None:
        if not await self.execute(statement, params):
            raise RowsUnchanged()

    async def executemany(self, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            await self.session.execute(statement, [dict(row) for row in rows])

    async def rows(self, statement: Returning, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [dict(row) for row in (await self.session.execute(statement, dict(params))).mappings()]

    async def commit_with(self, statements: Sequence[Bound]) -> list[list[dict[str, Any]]]:
        found = [await self.rows(statement, params) for statement, params in statements]
        await self.session.commit()
        return found


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


class SQLiteWrites:
    """Executes on one of the writer's connections: the writing one inside a transaction of a commit
    group, the reading one in autocommit."""

    dialect = "sqlite"

    def __init__(self, writer: SQLiteWriter, connection: sqlite3.Connection) -> None:
        self._writer = writer
        self._connection = connection

    async def execute(self, statement: Returning, params: Mapping[str, Any]) -> int:
        compiled = self._writer.statements.compiled(statement, params)
        try:
            return self._connection.execute(compiled.sql, compiled.parameters(params)).rowcount
        except sqlite3.Error as exc:
            raise as_sqlalchemy_error(compiled.sql, exc, sqlite3.Error) from exc

    async def add(self, statement: Returning, params: Mapping[str, Any]) -> None:
        await self.execute(statement, params)

    async def require(self, statement: Update, params: Mapping[str, Any]) -> None:
        if not await self.execute(statement, params):
            raise RowsUnchanged()

    async def rows(self, statement: Returning, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        compiled = self._writer.statements.compiled(statement, params)
        try:
            cursor = self._connection.execute(compiled.sql, compiled.parameters(params))
            found = cursor.fetchall()
        except sqlite3.Error as exc:
            raise as_sqlalchemy_error(compiled.sql, exc, sqlite3.Error) from exc
        return compiled.rows(found, cursor.description)

    async def executemany(self, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
        if len({frozenset(row) for row in rows}) != 1:  # no rows, or rows with different keys: one by one
            for row in rows:
                await self.execute(statement, row)
            return
        compiled = self._writer.statements.compiled(statement, rows[0])
        try:
            self._connection.executemany(compiled.sql, [compiled.parameters(row) for row in rows])
        except sqlite3.Error as exc:
            raise as_sqlalchemy_error(compiled.sql, exc, sqlite3.Error) from exc

    async def commit_with(self, statements: Sequence[Bound]) -> list[list[dict[str, Any]]]:
        """The statements' rows; they commit with the block's commit group, before the block returns."""
        return [await self.rows(statement, params) for statement, params in statements]


class _CommitGroup:
    """One SQLite write transaction that the blocks begun while it is open share: each block runs in a
    savepoint of its own (its failure rolls back its writes only), and all commit at once, at the next
    turn of the event loop after the first began (or when the block inside then leaves). It holds the
    database's write gate until it has committed."""

    def __init__(self, gate: asyncio.Lock) -> None:
        self.gate = gate
        self.blocks = asyncio.Lock()
        """Held by the block inside the group: one at a time."""
        self.closed = False
        self.due = False
        """The commit's turn came while a block was inside: it commits when that block leaves."""
        self.committed = asyncio.get_running_loop().create_future()


class SQLiteWriter:
    """The connections of this process for the run path's work on a SQLite file: one for write
    transactions, one for reads.

    A COMMIT writes every page the transaction changed to the WAL: for the run path's small
    transactions it was the largest single cost (~30 µs of ~65 µs for queueing a run, measured here).
    Transactions begun while one is waiting to commit join it (``_CommitGroup``): webhooks that arrive
    together, and runs that finish together, share their COMMIT. A block still returns only once its
    writes are committed, and raises if the commit fails."""

    def __init__(self, database: str, dialect: Dialect) -> None:
        self.database = database
        self.dialect = dialect
        self._connection: sqlite3.Connection | None = None
        self._read_connection: sqlite3.Connection | None = None
        self._group: _CommitGroup | None = None
        self.statements = Statements(dialect)

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

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Writes]:
        group = await self._join()
        connection = self.connection
        try:
            connection.execute("SAVEPOINT block")
            try:
                yield SQLiteWrites(self, connection)
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK TO block")
                    connection.execute("RELEASE block")
                else:  # SQLite rolled the whole transaction back (an I/O error, a full disk): the group is over
                    group.due = True
                raise
            connection.execute("RELEASE block")
        finally:
            group.blocks.release()
            if group.due and not group.closed:
                self._commit(group)
        await asyncio.shield(group.committed)

    async def _join(self) -> _CommitGroup:
        """The open commit group, its ``blocks`` lock held; a new one when none is open."""
        while True:
            group = self._group
            if group is None:
                gate = await inline_sqlite.acquire_write_gate(self.database)  # an open group holds it
                try:
                    self.connection.execute("BEGIN IMMEDIATE")
                except BaseException:
                    gate.release()
                    raise
                group = self._group = _CommitGroup(gate)
                asyncio.get_running_loop().call_soon(self._commit_when_free, group)
            await group.blocks.acquire()
            if not group.closed:
                return group
            group.blocks.release()

    def _commit_when_free(self, group: _CommitGroup) -> None:
        if group.blocks.locked():  # a block is inside, waiting for something: it commits when it leaves
            group.due = True
        elif not group.closed:
            self._commit(group)

    def _commit(self, group: _CommitGroup) -> None:
        group.closed = True
        self._group = None
        connection = self._connection  # None once closed with the engine: nothing to commit on
        try:
            if connection is None or not connection.in_transaction:
                raise sqlite3.OperationalError("the write transaction was rolled back by SQLite")
            connection.execute("COMMIT")
        except BaseException as exc:
            if connection is not None and connection.in_transaction:
                connection.execute("ROLLBACK")
            group.committed.set_exception(exc)
            group.committed.exception()  # retrieved here: the blocks that failed themselves do not await it
        else:
            group.committed.set_result(None)
        finally:
            group.gate.release()

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
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    reads: async_sessionmaker[AsyncSession],
    *,
    pool_size: int,
) -> tuple[WriteTransactions, ReadRows]:
    """Direct transactions and reads on a SQLite file or on PostgreSQL (their connections closed with
    the engine), else sessions."""
    writer: SQLiteWriter | PostgresWriter
    if engine.dialect.name == "postgresql":
        writer = PostgresWriter(engine, pool_size=pool_size)
    else:
        database = engine.url.database
        if not database or database == ":memory:":
            return session_transactions(sessions), session_reads(reads)
        writer = SQLiteWriter(database, engine.dialect)
    event.listen(engine.sync_engine, "engine_disposed", lambda _engine: writer.close())
    return writer.transaction, writer.reading
