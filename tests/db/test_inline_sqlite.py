"""SQLite calls inline on the event loop (db/inline_sqlite.py): writers of one database take turns on an
async gate, so a writer waiting for another never blocks the loop; readers never wait."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from flowvault.db import inline_sqlite
from flowvault.db.engine import make_engine, make_sessionmaker


def run_with_engine(path: Path, scenario: Callable[[AsyncEngine], Awaitable[None]]) -> None:
    async def main() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        try:
            async with engine.begin() as connection:
                await connection.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
            await scenario(engine)
        finally:
            await engine.dispose()

    asyncio.run(main())


def test_a_second_writer_waits_without_blocking_the_loop_and_readers_do_not_wait(tmp_path: Path) -> None:
    order: list[str] = []

    async def scenario(engine: AsyncEngine) -> None:
        sessions = make_sessionmaker(engine)
        holding, release = asyncio.Event(), asyncio.Event()
        ticks = 0

        async def first() -> None:
            async with sessions() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
                holding.set()
                await release.wait()  # a write transaction open across a real suspension
                order.append("first commits")
                await session.commit()

        async def second() -> None:
            await holding.wait()
            async with sessions() as session:
                await session.execute(text("INSERT INTO t VALUES (2)"))
                order.append("second wrote")
                await session.commit()

        async def reader() -> int:
            await holding.wait()
            async with sessions() as session:
                return int((await session.execute(text("SELECT count(*) FROM t"))).scalar_one())

        async def ticker() -> None:
            nonlocal ticks
            while not release.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        tasks = [asyncio.create_task(first()), asyncio.create_task(second()), asyncio.create_task(ticker())]
        assert await asyncio.wait_for(reader(), 5) == 0  # the uncommitted row is not seen, and nothing waited
        await asyncio.sleep(0.2)
        assert order == [], "the second writer must wait for the first one's transaction"
        assert ticks >= 5, "the loop kept running while the second writer waited"
        release.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        async with sessions() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 2

    run_with_engine(tmp_path / "db.sqlite", scenario)
    assert order == ["first commits", "second wrote"]


def test_the_gate_is_given_back_by_rollback_close_and_a_failed_first_write(tmp_path: Path) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        sessions = make_sessionmaker(engine)
        async with sessions() as session:  # closed without commit: rolled back
            await session.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(Exception, match="no such table"):
            async with sessions() as session:
                await session.execute(text("INSERT INTO missing VALUES (1)"))
        async with sessions() as session:
            await asyncio.wait_for(session.execute(text("INSERT INTO t VALUES (2)")), 2)
            await session.commit()
            assert (await session.execute(text("SELECT x FROM t"))).scalars().all() == [2]

    run_with_engine(tmp_path / "db.sqlite", scenario)


def test_a_writer_that_never_gets_the_gate_fails_like_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inline_sqlite, "GATE_TIMEOUT_SECONDS", 0.2)

    async def scenario(engine: AsyncEngine) -> None:
        sessions = make_sessionmaker(engine)
        async with sessions() as holder:
            await holder.execute(text("INSERT INTO t VALUES (1)"))
            async with sessions() as other:
                with pytest.raises(Exception, match="database is locked"):
                    await other.execute(text("INSERT INTO t VALUES (2)"))

    run_with_engine(tmp_path / "db.sqlite", scenario)


def test_a_connection_dropped_while_holding_the_gate_gives_it_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        dropped = await inline_sqlite.connect(str(tmp_path / "db.sqlite"))
        await dropped.execute("CREATE TABLE t (x INTEGER)")
        await dropped.execute("INSERT INTO t VALUES (1)")  # holds the gate now
        gate = inline_sqlite.write_gate(str(tmp_path / "db.sqlite"))
        assert gate.locked()
        del dropped
        gc.collect()
        assert not gate.locked()

    asyncio.run(scenario())


def test_statements_that_start_a_write_transaction() -> None:
    writes = ["INSERT INTO t VALUES (1)", "  update t set x = 1", "DELETE FROM t", "REPLACE INTO t VALUES (1)",
              "SAVEPOINT sa_1", "BEGIN", "CREATE TABLE u (x)", "DROP TABLE u", "ALTER TABLE t ADD y"]
    reads = ["SELECT 1", "PRAGMA journal_mode", "RELEASE SAVEPOINT sa_1", "EXPLAIN SELECT 1"]
    assert all(inline_sqlite._starts_write(sql) for sql in writes)
    assert not any(inline_sqlite._starts_write(sql) for sql in reads)
    assert sqlite3.sqlite_version_info >= (3, 35)  # UPDATE … RETURNING, which the claim uses
