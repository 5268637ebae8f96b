"""The run path's lookups read through ``AppState.reads``: on PostgreSQL without a transaction around
them (no BEGIN / ROLLBACK round trips), on SQLite as ordinary sessions (SQLite begins a transaction
only before a write)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from flowvault.bootstrap import open_state
from flowvault.config import Settings


def test_reads_run_outside_a_transaction_on_postgresql(settings: Settings) -> None:
    async def scenario() -> tuple[bool, bool]:
        state = await open_state(settings, create_key_file=True)
        try:
            if state.engine.dialect.name == "sqlite":
                async with state.reads() as session:
                    assert await session.scalar(text("SELECT 1")) == 1
                return True, True
            # now() is the start of the transaction: the same for two statements inside one, not in autocommit.
            query = text("SELECT now()")
            async with state.reads() as session:
                first = await session.scalar(query)
                await asyncio.sleep(0.02)
                read_apart = first != await session.scalar(query)
            async with state.sessions() as session:
                first = await session.scalar(query)
                await asyncio.sleep(0.02)
                written_together = first == await session.scalar(query)
            return read_apart, written_together
        finally:
            await state.engine.dispose()

    read_apart, written_together = asyncio.run(scenario())
    assert read_apart, "a read session ran its statements inside one transaction"
    assert written_together, "ordinary sessions must keep their transaction"
