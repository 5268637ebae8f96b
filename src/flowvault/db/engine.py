"""Async engine and sessions. SQLite runs in WAL mode with foreign keys on, its calls inline on the event
loop (``inline_sqlite``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from flowvault.config import DEFAULT_DATABASE_POOL_SIZE
from flowvault.db import inline_sqlite


def make_engine(url: str, *, pool_size: int = DEFAULT_DATABASE_POOL_SIZE) -> AsyncEngine:
    """The engine of a database URL. A server database (PostgreSQL) keeps ``pool_size`` connections
    open and opens up to as many more at peaks, closed again when returned: opening one costs the
    server a process and its catalog caches (measured in docs/PERFORMANCE.md: half of PostgreSQL's CPU
    per run went there when 20 concurrent webhooks met SQLAlchemy's default of 5)."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            # Inline calls instead of aiosqlite's thread (see inline_sqlite): the dialect stays aiosqlite.
            engine = create_async_engine(url, async_creator=lambda: inline_sqlite.connect(database, timeout=30))
        else:
            engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def make_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for a few reads that need no transaction around them (the run path's lookups). On
    PostgreSQL their connection is in autocommit: no BEGIN and ROLLBACK round trips around one SELECT.
    SQLite begins a transaction only before a write anyway, so there they are ordinary sessions."""
    if engine.dialect.name == "sqlite":
        return make_sessionmaker(engine)
    return make_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))


async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with factory() as session:
        yield session


def sync_url(url: str) -> str:
    """The synchronous driver URL for the same database (Alembic runs synchronously)."""
    return url.replace("sqlite+aiosqlite", "sqlite").replace("postgresql+asyncpg", "postgresql+psycopg")
