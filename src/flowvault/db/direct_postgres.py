"""The run path's database work on PostgreSQL, straight on psycopg's async connections: the same
compiled Core statements as on SQLite (``db.compiled``), with no session, no greenlet and no pool
checkout ping in between (measured in docs/PERFORMANCE.md: SQLAlchemy's session and engine were
~40 % of a Celery worker's CPU per run).

The connections are this executor's own, in autocommit: a transaction is an explicit ``BEGIN`` ...
``COMMIT``, a read a single statement. Up to ``pool_size`` idle connections are kept, and as many
more are opened at peaks (the pooled engine's sizing, ``FLOWVAULT_DATABASE_POOL_SIZE``). A
connection that saw an error is closed, never reused: closing rolls back what it began. One that
sat idle for a while is checked before use (the server may have restarted meanwhile), and a
transaction whose ``BEGIN`` finds its connection broken starts again on a new one.
"""

from __future__ import annotations

import asyncio
import copy
import time
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import Insert, UpdateBase

from flowvault.db.compiled import Compiled, Returning, Statements, as_sqlalchemy_error

CHECK_AFTER_IDLE_SECONDS = 5.0
"""A connection idle longer than this is checked (``SELECT 1``) before it is used again."""
WAIT_SECONDS = 30.0
"""How long a caller waits for a connection when all of them are in use (SQLAlchemy's pool_timeout)."""


class PostgresWrites:
    """Executes on one connection (inside its open transaction, or in autocommit for reads)."""

    dialect = "postgresql"

    def __init__(self, writer: PostgresWriter, connection: psycopg.AsyncConnection[Any]) -> None:
        self._writer = writer
        self._connection = connection

    async def _execute(self, compiled: Compiled, params: tuple[Any, ...]) -> psycopg.AsyncCursor[Any]:
        try:
            return await self._connection.execute(compiled.sql, params)
        except psycopg.Error as exc:
            raise as_sqlalchemy_error(compiled.sql, exc, psycopg.Error) from exc

    async def execute(self, statement: UpdateBase, params: Mapping[str, Any]) -> int:
        compiled = self._writer.statements.compiled(statement, params)
        return (await self._execute(compiled, compiled.parameters(params))).rowcount

    async def rows(self, statement: Returning, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        compiled = self._writer.statements.compiled(statement, params)
        cursor = await self._execute(compiled, compiled.parameters(params))
        return compiled.rows(await cursor.fetchall(), cursor.description)

    async def executemany(self, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
        """An INSERT's rows in multi-row statements; anything else one statement per row (psycopg's
        own ``executemany`` runs in pipeline mode, which polls for the server's answer)."""
        if isinstance(statement, Insert) and len({frozenset(row) for row in rows}) == 1:
            for compiled, params in self._writer.statements.multi_row(statement, rows):
                await self._execute(compiled, compiled.parameters(params))
            return
        for row in rows:
            await self.execute(statement, row)


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

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
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
            if time.monotonic() - since < CHECK_AFTER_IDLE_SECONDS:
                return connection
            try:
                await connection.execute("SELECT 1")
                return connection
            except BaseException as exc:
                _finish(connection)  # dead, or cancelled mid-check: not reused
                if not isinstance(exc, psycopg.Error):
                    raise
        return await self._connect()

    async def _begin(self, connection: psycopg.AsyncConnection[Any]) -> None:
        """``BEGIN``; on any failure the connection is closed. The error says whether the server had
        closed the connection (``connection_invalidated``: nothing was sent)."""
        try:
            await connection.execute("BEGIN")
        except BaseException as exc:
            lost = connection.broken  # asked before closing: a connection closed here looks broken too
            _finish(connection)
            if isinstance(exc, psycopg.Error):
                raise as_sqlalchemy_error("BEGIN", exc, psycopg.Error, invalidated=lost) from exc
            raise

    async def _checked_out(self, *, begin: bool) -> psycopg.AsyncConnection[Any]:
        connection = await self._take()
        if begin:
            try:
                await self._begin(connection)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                # The server closed it while it sat idle (a restart): start again on a new one.
                connection = await self._connect()
                await self._begin(connection)
        return connection

    def _give_back(self, connection: psycopg.AsyncConnection[Any]) -> None:
        idle = not connection.closed and connection.info.transaction_status == TransactionStatus.IDLE
        if idle and len(self._idle) < self._pool_size:
            self._idle.append((connection, time.monotonic()))
        else:
            _finish(connection)

    @asynccontextmanager
    async def _connection(self, *, begin: bool) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
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
            connection = await self._checked_out(begin=begin)
            try:
                yield connection
            except BaseException:
                _finish(connection)  # rolls back what it began; its state is unknown, so it is not reused
                raise
            self._give_back(connection)
        finally:
            self._slots.release()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresWrites]:
        async with self._connection(begin=True) as connection:
            yield PostgresWrites(self, connection)
            try:
                await connection.execute("COMMIT")
            except psycopg.Error as exc:
                raise as_sqlalchemy_error("COMMIT", exc, psycopg.Error) from exc

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[PostgresWrites]:
        async with self._connection(begin=False) as connection:
            yield PostgresWrites(self, connection)

    def close(self) -> None:
        _finish_idle(self._idle)


def _finish(connection: psycopg.AsyncConnection[Any]) -> None:
    """Closes at once, without waiting on the server (a transaction it began is rolled back)."""
    connection.pgconn.finish()


def _finish_idle(idle: list[tuple[psycopg.AsyncConnection[Any], float]]) -> None:
    while idle:
        _finish(idle.pop()[0])
