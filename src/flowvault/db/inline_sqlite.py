"""SQLite under the async engine without a thread per connection.

aiosqlite runs every call on a thread of its own and hands the result back to the event loop: two
thread switches per statement, about 0.6 ms of CPU each time — more than SQLite needs for our
statements, which read and write a local file in WAL mode in tens of microseconds. This module
speaks aiosqlite's interface (what SQLAlchemy's ``sqlite+aiosqlite`` dialect calls) and runs each
call inline, on the event loop.

Running inline means a statement waiting for SQLite's write lock would stop the whole event loop,
and with it the task that holds the lock: a deadlock. So writers of one database take turns before
SQLite sees them: a connection about to start a write transaction waits (asynchronously) for the
database's write gate, and gives it back when its transaction ends (commit, rollback, close). SQLite's
own lock, with its busy timeout, still arbitrates with other processes (a CLI command, another
server), whose write transactions are short.

Readers never wait: in WAL mode a reader does not block on a writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

log = logging.getLogger("flowvault.db")
GATE_TIMEOUT_SECONDS = 30.0
"""How long a writer waits for the gate before failing like SQLite does ("database is locked")."""
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT", "BEGIN", "CREATE", "DROP", "ALTER")

_gates: dict[tuple[int, str], tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}


def write_gate(database: str) -> asyncio.Lock:
    """The write gate of ``database`` on the running event loop."""
    loop = asyncio.get_running_loop()
    key = (id(loop), database)
    found = _gates.get(key)
    if found is None or found[0] is not loop:
        for stale in [k for k, (other, _lock) in _gates.items() if other.is_closed()]:
            del _gates[stale]
        found = _gates[key] = (loop, asyncio.Lock())
    return found[1]


async def acquire_write_gate(database: str) -> asyncio.Lock:
    """Waits for the write gate of ``database`` and returns it, held; after ``GATE_TIMEOUT_SECONDS``
    fails like SQLite does ("database is locked"). Every writer of the process takes it here."""
    gate = write_gate(database)
    try:
        async with asyncio.timeout(GATE_TIMEOUT_SECONDS):  # a timer, not wait_for's task per acquire
            await gate.acquire()
    except TimeoutError:
        log.warning("waited %g s for the write gate: a write transaction stays open", GATE_TIMEOUT_SECONDS)
        raise sqlite3.OperationalError("database is locked") from None
    return gate


def _starts_write(sql: str) -> bool:
    return sql.lstrip()[:9].upper().startswith(_WRITES)


class Cursor:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._cursor = connection._conn.cursor()

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        await self._connection._before(sql)
        try:
            self._cursor.execute(sql, parameters)
        finally:
            self._connection._after()
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        await self._connection._before(sql)
        try:
            self._cursor.executemany(sql, parameters)
        finally:
            self._connection._after()
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class Connection:
    """An aiosqlite-compatible connection whose calls run on the calling thread."""

    def __init__(self, conn: sqlite3.Connection, database: str) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # SQLAlchemy checks it before commit/rollback
        self._database = database
        self._held: asyncio.Lock | None = None
        """The write gate while this connection holds it (released on this object, loop or not)."""

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    async def _before(self, sql: str) -> None:
        if self._held is not None or self._conn.in_transaction or not _starts_write(sql):
            return
        self._held = await acquire_write_gate(self._database)

    def _after(self) -> None:
        if self._held is not None and not self._conn.in_transaction:
            self._release()

    def _release(self) -> None:
        gate, self._held = self._held, None
        if gate is not None and gate.locked():
            # Also from a garbage-collected connection, after its event loop stopped: nothing to wake then.
            with contextlib.suppress(RuntimeError):
                gate.release()

    def cursor(self) -> Cursor:
        return Cursor(self)

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        try:
            self._conn.commit()
        finally:
            self._after()

    async def rollback(self) -> None:
        try:
            self._conn.rollback()
        finally:
            self._after()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Closes at once (also SQLAlchemy's terminate); an open transaction is rolled back by SQLite."""
        try:
            if self._connection is not None:
                self._connection = None
                self._conn.close()
        finally:
            self._release()

    def __del__(self) -> None:
        if getattr(self, "_held", None) is not None:
            self._release()


async def connect(database: str, **kwargs: Any) -> Connection:
    return Connection(sqlite3.connect(database, check_same_thread=False, **kwargs), database)
