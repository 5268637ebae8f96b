"""The run path's database work on PostgreSQL, straight on psycopg's async connections: the same
compiled Core statements as on SQLite (``db.compiled``), with no session, no greenlet and no pool
checkout ping in between (measured in docs/PERFORMANCE.md: SQLAlchemy's session and engine were
~40 % of a Celery worker's CPU per run).

The connections are this executor's own, in autocommit: a transaction is an explicit ``BEGIN`` ...
``COMMIT`` (statements whose results are not read go in one flight with the next, see
``PostgresWrites``), a read a single statement. Up to ``pool_size`` idle connections are kept, and as many
more are opened at peaks (the pooled engine's sizing, ``FLOWVAULT_DATABASE_POOL_SIZE``). A
connection that saw an error is closed, never reused: closing rolls back what it began. One that
sat idle for a while is checked before use (the server may have restarted meanwhile), one the server
closed is seen without a round trip, and a transaction whose first flight (when it does not commit)
finds its connection broken starts again on a new one.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import select
import time
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import psycopg
import psycopg.errors
from psycopg.pq import TransactionStatus
from sqlalchemy import Select, func, literal_column
from sqlalchemy import select as sql_select
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import Insert, Update, UpdateBase

from flowvault.db.compiled import (
    COMPILED_STATEMENTS,
    Bound,
    Compiled,
    Returning,
    RowsUnchanged,
    Statements,
    as_sqlalchemy_error,
)

CHECK_AFTER_IDLE_SECONDS = 5.0
"""A connection idle longer than this is checked (``SELECT 1``) before it is used again."""
WAIT_SECONDS = 30.0
"""How long a caller waits for a connection when all of them are in use (SQLAlchemy's pool_timeout)."""


Statement = tuple[str, tuple[Any, ...]]
"""SQL and its positional parameters, as sent."""
_BEGIN: Statement = ("BEGIN", ())
_COMMIT: Statement = ("COMMIT", ())


class PostgresWrites:
    """Executes on one connection: in a transaction (``in_transaction``), or in autocommit for reads.

    In a transaction, statements whose results are not read (``add``, ``executemany``) wait, and go
    to the server with the next statement whose result is read, or with the ``COMMIT``, in one
    flight (psycopg's pipeline mode): ``BEGIN`` goes with the first statement. A round trip costs
    the client and the server more CPU than the statement itself (measured in docs/PERFORMANCE.md);
    a transaction of one statement is that statement alone (a webhook's INSERT), a run's finishing
    transaction one flight (``require``). An error of a statement that waited is raised where its flight went."""

    dialect = "postgresql"

    def __init__(
        self, writer: PostgresWriter, connection: psycopg.AsyncConnection[Any], *, in_transaction: bool
    ) -> None:
        self._writer = writer
        self.connection = connection
        self._in_transaction = in_transaction
        self._waiting: list[Statement] = [_BEGIN] if in_transaction else []
        self.sent = False
        """Whether anything went to the server on this connection (else it is as it was taken)."""
        self._requiring = False
        """Whether a ``require`` check waits to go with the next flight."""

    async def _send(self, statements: list[Statement], *, commits: bool = False) -> list[psycopg.AsyncCursor[Any]]:
        """Sends what waits and then ``statements``; their cursors."""
        flight = [*self._waiting, *statements]
        self._waiting = []
        shown = "; ".join(statement for statement, _ in flight)
        # A transaction's first flight that does not commit may go again on a new connection when the
        # server closed this one while it sat idle (a restart): whatever of it reached the server was
        # rolled back with the connection.
        again = self._in_transaction and not self.sent and not commits
        requiring, self._requiring = self._requiring, False
        self.sent = True
        try:
            return (await self._fly(flight))[-len(statements) :]
        except psycopg.Error as exc:
            lost = self.connection.broken  # asked before closing: a connection closed here looks broken too
            if not (again and lost):
                raise _failure(exc, shown, requiring=requiring, lost=lost) from exc
        _finish(self.connection)
        self.connection = await self._writer.connect()
        try:
            return (await self._fly(flight))[-len(statements) :]
        except psycopg.Error as exc:
            raise _failure(exc, shown, requiring=requiring, lost=self.connection.broken) from exc

    async def _fly(self, flight: list[Statement]) -> list[psycopg.AsyncCursor[Any]]:
        connection = self.connection
        if len(flight) == 1:
            return [await connection.execute(*flight[0])]  # no pipeline to set up for one statement
        async with connection.pipeline():
            cursors = [await connection.execute(sql, params) for sql, params in flight]
        return cursors

    def _wait(self, compiled: Compiled, params: Mapping[str, Any]) -> None:
        self._waiting.append((compiled.sql, compiled.parameters(params)))

    async def execute(self, statement: UpdateBase, params: Mapping[str, Any]) -> int:
        compiled = self._writer.statements.compiled(statement, params)
        return (await self._send([(compiled.sql, compiled.parameters(params))]))[0].rowcount

    async def add(self, statement: Returning, params: Mapping[str, Any]) -> None:
        compiled = self._writer.statements.compiled(statement, params)
        if self._in_transaction:
            self._wait(compiled, params)
        else:
            await self._send([(compiled.sql, compiled.parameters(params))])

    async def rows(self, statement: Returning, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        compiled = self._writer.statements.compiled(statement, params)
        (cursor,) = await self._send([(compiled.sql, compiled.parameters(params))])
        return compiled.rows(await cursor.fetchall(), cursor.description)

    async def commit_with(self, statements: Sequence[Bound]) -> list[list[dict[str, Any]]]:
        """``statements`` and the ``COMMIT`` in one flight, with what waits (the transaction's first
        statement alone, in autocommit, when it is the only one); the next statement begins a new
        transaction."""
        compiled = [self._writer.statements.compiled(statement, params) for statement, params in statements]
        sent = [(each.sql, each.parameters(params)) for each, (_, params) in zip(compiled, statements, strict=True)]
        if not self._in_transaction:
            cursors = await self._send(sent) if sent else []
        else:
            cursors = await self._commit(sent)
            self._waiting = [_BEGIN]
        return [
            each.rows(await cursor.fetchall(), cursor.description)
            for each, cursor in zip(compiled, cursors, strict=True)
        ]

    async def require(self, statement: Update, params: Mapping[str, Any]) -> None:
        """The UPDATE waits as ``add``'s statements do, as ``WITH changed AS (UPDATE ... RETURNING 1)
        SELECT 1 / count(*) FROM changed``: no row changed is a division by zero, which fails the
        flight on the server, so the statements after it (the ``COMMIT`` too) are not executed."""
        if not self._in_transaction:
            if not await self.execute(statement, params):
                raise RowsUnchanged()
            return
        self._wait(self._writer.statements.compiled(_required(statement), params), params)
        self._requiring = True

    async def executemany(self, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
        """An INSERT's rows in multi-row statements; anything else one statement per row (psycopg's
        own ``executemany`` runs each in a pipeline of its own)."""
        if isinstance(statement, Insert) and len({frozenset(row) for row in rows}) == 1:
            for compiled, params in self._writer.statements.multi_row(statement, rows):
                self._wait(compiled, params)
        else:
            for row in rows:
                self._wait(self._writer.statements.compiled(statement, row), row)
        if not self._in_transaction and self._waiting:
            await self._send([self._waiting.pop()])

    async def commit(self) -> None:
        """``COMMIT``, with what waits (see ``_commit``)."""
        await self._commit([])

    async def _commit(self, statements: list[Statement]) -> list[psycopg.AsyncCursor[Any]]:
        """What waits, ``statements`` and the ``COMMIT`` in one flight; the cursors of ``statements``. A
        transaction that wrote nothing sends nothing, and one of a single statement sends that statement
        alone (in autocommit it is a transaction of its own: a webhook's INSERT)."""
        if self._waiting[:1] == [_BEGIN]:
            pending = [*self._waiting[1:], *statements]
            if len(pending) <= 1:
                self._waiting = []
                cursors = await self._send(pending, commits=True) if pending else []
                return cursors[len(cursors) - len(statements) :]
        return (await self._send([*statements, _COMMIT], commits=True))[:-1]


class PostgresWriter:
    """This process's connections for the run path's work on one PostgreSQL database."""

    def __init__(self, engine: AsyncEngine, *, pool_size: int) -> None:
        self._engine = engine
        self._pool_size = pool_size
        self._idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []
        self._slots = asyncio.Semaphore(2 * pool_size)
        self._statements: Statements | None = None
        # An engine dropped without dispose() still closes this writer's idle connections.
        weakref.finalize(self, _finish_idle, self._idle)

    @property
    def statements(self) -> Statements:
        assert self._statements is not None, "statements are compiled once a connection is made"
        return self._statements

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        """A new connection of this writer's (autocommit)."""
        if self._statements is None:
            # The engine's dialect as its first connection initialises it (from the server's version and
            # settings), with positional parameters (%s).
            async with self._engine.connect():
                pass
            dialect = copy.copy(self._engine.dialect)
            dialect.paramstyle, dialect.positional = "format", True
            self._statements = Statements(dialect)
        args, options = self._engine.dialect.create_connect_args(self._engine.url)
        try:
            return await psycopg.AsyncConnection.connect(*args, **options, autocommit=True)
        except psycopg.Error as exc:
            raise as_sqlalchemy_error("connect", exc, psycopg.Error) from exc

    async def _take(self) -> psycopg.AsyncConnection[Any]:
        while self._idle:
            connection, since = self._idle.pop()
            if connection.closed:
                continue
            if _closed_while_idle(connection):
                _finish(connection)
                continue
            if time.monotonic() - since < CHECK_AFTER_IDLE_SECONDS:
                return connection
            try:
                await connection.execute("SELECT 1")
                return connection
            except BaseException as exc:
                _finish(connection)  # dead, or cancelled mid-check: not reused
                if not isinstance(exc, psycopg.Error):
                    raise
        return await self.connect()

    def _give_back(self, connection: psycopg.AsyncConnection[Any]) -> None:
        idle = not connection.closed and connection.info.transaction_status == TransactionStatus.IDLE
        if idle and len(self._idle) < self._pool_size:
            self._idle.append((connection, time.monotonic()))
        else:
            _finish(connection)

    @asynccontextmanager
    async def _writes(self, *, in_transaction: bool) -> AsyncIterator[PostgresWrites]:
        try:
            if self._slots.locked():  # all in use: wait, bounded (wait_for runs the wait as a task)
                await asyncio.wait_for(self._slots.acquire(), WAIT_SECONDS)
            else:
                await self._slots.acquire()  # returns at once
        except TimeoutError:
            raise PoolTimeout(
                f"all {2 * self._pool_size} database connections of this process stayed in use for "
                f"{WAIT_SECONDS:g} s; raise FLOWVAULT_DATABASE_POOL_SIZE (and the server's max_connections) "
                "if this load is expected"
            ) from None
        try:
            writes = PostgresWrites(self, await self._take(), in_transaction=in_transaction)
            try:
                yield writes
                if in_transaction:
                    await writes.commit()
            except BaseException:
                if writes.sent:
                    _finish(writes.connection)  # rolls back what it began; its state is unknown: not reused
                else:
                    self._give_back(writes.connection)  # nothing reached the server
                raise
            self._give_back(writes.connection)
        finally:
            self._slots.release()

    def transaction(self) -> AbstractAsyncContextManager[PostgresWrites]:
        return self._writes(in_transaction=True)

    def reading(self) -> AbstractAsyncContextManager[PostgresWrites]:
        return self._writes(in_transaction=False)

    def close(self) -> None:
        _finish_idle(self._idle)


def _failure(exc: psycopg.Error, shown: str, *, requiring: bool, lost: bool) -> Exception:
    """What a failed flight raises: ``RowsUnchanged`` when it held a ``require`` check that found no row
    (its division by zero), else SQLAlchemy's error for the failure."""
    if requiring and isinstance(exc, psycopg.errors.DivisionByZero):
        return RowsUnchanged()
    return as_sqlalchemy_error(shown, exc, psycopg.Error, invalidated=lost)


@functools.lru_cache(maxsize=COMPILED_STATEMENTS)  # statements are constants; a bound all the same
def _required(statement: Update) -> Select[Any]:
    changed = statement.returning(literal_column("1")).cte("changed")
    return sql_select(literal_column("1") / func.count()).select_from(changed)


def _closed_while_idle(connection: psycopg.AsyncConnection[Any]) -> bool:
    """Whether the server may have ended the connection while it sat idle (a restart, an administrator):
    it sent something. Nothing else comes to these connections unasked (they LISTEN to nothing), so
    this costs no round trip, and a transaction's first flight, which may commit, is not sent on a
    dead connection (at worst a live one is replaced). ``poll``, not ``select``: a busy process's
    descriptors go beyond select's 1,024."""
    poller = select.poll()
    poller.register(connection.pgconn.socket, select.POLLIN)
    return bool(poller.poll(0))


def _finish(connection: psycopg.AsyncConnection[Any]) -> None:
    """Closes at once, without waiting on the server (a transaction it began is rolled back)."""
    connection.pgconn.finish()


def _finish_idle(idle: list[tuple[psycopg.AsyncConnection[Any], float]]) -> None:
    while idle:
        _finish(idle.pop()[0])
