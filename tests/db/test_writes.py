"""The run path's write transactions (``db.writes``): on a SQLite file straight on sqlite3, on
PostgreSQL straight on psycopg, elsewhere through a session; each stores exactly what SQLAlchemy
stores, commits at the end of the block and rolls back when it raises; on SQLite they take turns
with the pooled connections' writers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
import pytest
from sqlalchemy import bindparam, delete, func, insert, literal_column, select, text, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from flowvault.bootstrap import open_state
from flowvault.config import Settings
from flowvault.db.base import table_of
from flowvault.db.compiled import Compiled, RowsUnchanged
from flowvault.db.direct_postgres import PostgresWriter, PostgresWrites
from flowvault.db.writes import SQLiteWriter, session_transactions
from flowvault.deps import AppState
from flowvault.runs.models import Run, RunStep
from tests.conftest import new_workflow

T = TypeVar("T")
STEPS = table_of(RunStep)
RUNS = table_of(Run)
INSERT_STEP = insert(STEPS)
INSERT_RUN = insert(RUNS)
RUN_STATUS = update(RUNS).where(RUNS.c.id == bindparam("run_id")).values(status="running")
WHEN = datetime(2026, 11, 27, 23, 5, 6, 789012, tzinfo=UTC)
POSTGRESQL = pytest.mark.parametrize("backend", ["postgresql"])


def run(work: Callable[[AppState], Awaitable[T]], settings: Settings) -> T:
    async def main() -> T:
        state = await open_state(settings, create_key_file=True)
        try:
            return await work(state)
        finally:
            await state.engine.dispose()

    return asyncio.run(main())


async def a_run(state: AppState) -> str:
    workflow = await new_workflow(state)
    async with state.sessions() as session:
        run_row = Run(
            workspace_id=workflow.workspace_id, workflow_id=workflow.id, workflow_version=1, trigger="manual", input={}
        )
        session.add(run_row)
        await session.commit()
        return run_row.id


def step(run_id: str, seq: int) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "seq": seq,
        "node_id": "n",
        "node_name": 'Ünïcode "quoted" name',
        "node_type": "http_request",
        "status": "succeeded",
        "input": {"url": "https://example.test/?a=1&b=ü", "nested": [1, 2.5, None, True]},
        "output": {"status": 200, "body": "line\nbreak"},
        "error": None,
        "credentials": [{"id": "s", "name": "API"}],
        "logs": ["one", "two"],
        "started_at": WHEN,
        "finished_at": WHEN,
        "duration_ms": 3,
    }


def test_the_run_path_writes_directly_on_sqlite_and_postgresql(settings: Settings) -> None:
    async def kind(state: AppState) -> tuple[str, str]:
        writes, rows = (getattr(access, "__self__", None) for access in (state.writes, state.rows))
        return type(writes).__name__, type(rows).__name__

    expected = "SQLiteWriter" if settings.is_sqlite else "PostgresWriter"
    assert run(kind, settings) == (expected, expected)


def test_rows_written_are_the_rows_sqlalchemy_writes(settings: Settings) -> None:
    """Seq 1 through a session, seq 2 through ``state.writes``: stored alike, read back alike."""

    async def scenario(state: AppState) -> tuple[list[Any], list[dict[str, Any]]]:
        run_id = await a_run(state)
        async with session_transactions(state.sessions)() as writes:
            await writes.executemany(INSERT_STEP, [step(run_id, 1)])
        async with state.writes() as writes:
            await writes.executemany(INSERT_STEP, [step(run_id, 2)])
        async with state.sessions() as session:
            stored = text(
                "SELECT CAST(input AS TEXT), CAST(output AS TEXT), CAST(started_at AS TEXT) FROM run_steps "
                "WHERE run_id = :run_id ORDER BY seq"
            )
            raw = [tuple(row) for row in (await session.execute(stored, {"run_id": run_id})).all()]
            read = (await session.scalars(select(RunStep).where(RunStep.run_id == run_id).order_by(RunStep.seq))).all()
            return raw, [{**vars(r)} for r in read]

    raw, read = run(scenario, settings)
    assert raw[0] == raw[1], "the same text in the database"
    first, second = ({k: v for k, v in r.items() if k not in ("seq", "_sa_instance_state")} for r in read)
    assert first == second
    assert second["started_at"] == WHEN and second["input"] == step("", 0)["input"]


def test_rowcount_and_commit_at_the_end_of_the_block(settings: Settings) -> None:
    async def scenario(state: AppState) -> tuple[int, int, str]:
        run_id = await a_run(state)
        async with state.writes() as writes:
            changed = await writes.execute(RUN_STATUS, {"run_id": run_id})
            unchanged = await writes.execute(RUN_STATUS, {"run_id": "no-such-run"})
        async with state.sessions() as session:
            status = await session.scalar(select(Run.status).where(Run.id == run_id))
        return changed, unchanged, str(status)

    assert run(scenario, settings) == (1, 0, "running")


def test_a_block_that_raises_writes_nothing_and_the_next_transaction_goes_ahead(settings: Settings) -> None:
    async def scenario(state: AppState) -> tuple[int, int]:
        run_id = await a_run(state)
        with pytest.raises(RuntimeError, match="half-way"):
            async with state.writes() as writes:
                await writes.executemany(INSERT_STEP, [step(run_id, 1)])
                await writes.execute(RUN_STATUS, {"run_id": run_id})
                raise RuntimeError("half-way")
        async with state.sessions() as session:
            after_failure = len((await session.scalars(select(RunStep).where(RunStep.run_id == run_id))).all())
        async with asyncio.timeout(5):  # a gate left held would make this wait for ever
            async with state.writes() as writes:
                await writes.executemany(INSERT_STEP, [step(run_id, 1)])
        async with state.sessions() as session:
            after_retry = len((await session.scalars(select(RunStep).where(RunStep.run_id == run_id))).all())
        return after_failure, after_retry

    assert run(scenario, settings) == (0, 1)


RUN_ERROR = (
    update(RUNS).where(RUNS.c.id == bindparam("run_id")).values(error=bindparam("error")).returning(RUNS.c.error)
)


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "session"])
def test_commit_with_returns_each_statements_rows_commits_and_what_follows_is_a_new_transaction(
    settings: Settings, direct: bool
) -> None:
    """What went before and ``commit_with``'s statements are committed when it returns (another
    connection sees them inside the block); a statement after it is a transaction of its own, which
    the block's failure rolls back alone. On a SQLite file the direct writer's block commits with its
    commit group: its writes, ``commit_with``'s among them, commit when the block ends or not at all."""

    async def scenario(state: AppState) -> tuple[list[list[dict[str, Any]]], tuple[int, str | None], tuple[int, str]]:
        run_id = await a_run(state)
        transactions = state.writes if direct else session_transactions(state.sessions)

        async def seen() -> tuple[int, str]:
            async with state.sessions() as session:
                steps = len((await session.scalars(select(RunStep).where(RunStep.run_id == run_id))).all())
                return steps, str(await session.scalar(select(Run.error).where(Run.id == run_id)))

        with pytest.raises(RuntimeError, match="after the commit"):
            async with transactions() as writes:
                await writes.add(INSERT_STEP, step(run_id, 1))
                found = await writes.commit_with(
                    [(RUN_ERROR, {"run_id": run_id, "error": "first"}), (RUN_ERROR, {"run_id": "none", "error": "x"})]
                )
                inside = await seen()
                await writes.add(INSERT_STEP, step(run_id, 2))
                await writes.execute(RUN_STATUS, {"run_id": run_id})
                raise RuntimeError("after the commit")
        return found, inside, await seen()

    found, inside, after = run(scenario, settings)
    assert found == [[{"error": "first"}], []]
    if direct and settings.is_sqlite:  # a SQLite file's blocks commit with their commit group, whole
        assert inside == (0, "None") and after == (0, "None"), "the block's writes commit or roll back together"
        return
    assert inside == (1, "first")
    assert after == (1, "first"), "the statements after commit_with were rolled back with the block"


@POSTGRESQL
def test_postgresql_sends_commit_with_in_one_flight_with_what_waits(
    backend: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a read: what waits, the statements and the COMMIT in one flight; the next statement brings
    its BEGIN. As a transaction's only statement: that statement alone (autocommit)."""
    flights = sent_flights(monkeypatch)

    async def scenario(state: AppState) -> list[list[str]]:
        run_id = await a_run(state)
        flights.clear()
        async with state.writes() as writes:
            await writes.rows(select(RUNS.c.id).where(RUNS.c.id == bindparam("run_id")), {"run_id": run_id})
            await writes.add(INSERT_STEP, step(run_id, 1))
            await writes.commit_with([(RUN_ERROR, {"run_id": run_id, "error": "a"})] * 2)
            await writes.add(INSERT_STEP, step(run_id, 2))
        async with state.writes() as writes:
            assert await writes.commit_with([(RUN_ERROR, {"run_id": run_id, "error": "b"})]) == [[{"error": "b"}]]
        async with state.writes() as writes:
            assert await writes.commit_with([]) == []
        return list(flights)

    assert run(scenario, settings) == [
        ["BEGIN", "SELECT"],
        ["INSERT", "UPDATE", "UPDATE", "COMMIT"],
        ["INSERT"],
        ["UPDATE"],
    ]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("backend", ["sqlite"])  # the write gate and the direct writer are SQLite's
def test_a_direct_transaction_waits_for_a_pooled_writer_instead_of_failing(backend: str, settings: Settings) -> None:
    """Both take turns at the database's write gate: the direct one starts after the session commits."""

    async def scenario(state: AppState) -> list[str]:
        run_id = await a_run(state)
        order: list[str] = []

        async def direct() -> None:
            async with state.writes() as writes:
                order.append("direct writes")
                await writes.execute(delete(STEPS).where(STEPS.c.run_id == bindparam("run_id")), {"run_id": run_id})

        async with state.sessions() as session:
            await session.execute(insert(STEPS), [step(run_id, 1)])  # holds the gate until the commit
            waiting = asyncio.create_task(direct())
            await asyncio.sleep(0.05)
            order.append("session commits")
            await session.commit()
        async with asyncio.timeout(5):
            await waiting
        return order

    assert run(scenario, settings) == ["session commits", "direct writes"]


def test_statements_that_need_column_defaults_run_are_refused(backend: str, settings: Settings) -> None:
    async def scenario(state: AppState) -> None:
        async with state.writes() as writes:
            # Run.id, status, path... have Python-side defaults, which only SQLAlchemy's execution runs.
            await writes.execute(
                INSERT_RUN,
                {"workspace_id": "w", "workflow_id": "f", "workflow_version": 1, "trigger": "manual", "input": {}},
            )

    with pytest.raises(ValueError, match="column defaults"):
        run(scenario, settings)


@pytest.mark.sqlite_only
@pytest.mark.parametrize("backend", ["sqlite"])  # the write gate and the direct writer are SQLite's
def test_the_writer_connection_closes_with_the_engine(backend: str, settings: Settings) -> None:
    async def scenario(state: AppState) -> SQLiteWriter:
        run_id = await a_run(state)
        async with state.writes() as writes:
            await writes.execute(RUN_STATUS, {"run_id": run_id})
        writer = state.writes.__self__  # type: ignore[attr-defined]
        assert isinstance(writer, SQLiteWriter)
        async with state.rows() as rows:
            await rows.rows(SELECT_RUN, {"run_id": run_id})
        connections = (writer.connection, writer.read_connection)
        await state.engine.dispose()
        for connection in connections:
            with pytest.raises(sqlite3.ProgrammingError):
                connection.execute("SELECT 1")
        return writer

    run(scenario, settings)


class CountedConnection:
    """The writer's connection, counting the COMMITs it is sent; ``fail_commit`` makes them fail as a
    full disk would."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.commits = 0
        self.fail_commit = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT":
            self.commits += 1
            if self.fail_commit:
                raise sqlite3.OperationalError("database or disk is full")
        return self.connection.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)


def counted_writer(state: AppState) -> CountedConnection:
    writer = state.writes.__self__  # type: ignore[attr-defined]
    assert isinstance(writer, SQLiteWriter)
    counted = CountedConnection(writer.connection)
    writer._connection = counted  # type: ignore[assignment]
    return counted


async def steps_of(state: AppState, run_id: str) -> list[int]:
    async with state.sessions() as session:
        return sorted((await session.scalars(select(RunStep.seq).where(RunStep.run_id == run_id))).all())


@pytest.mark.sqlite_only
@pytest.mark.parametrize("backend", ["sqlite"])
def test_blocks_begun_together_share_one_commit_and_a_failing_one_rolls_back_alone(
    backend: str, settings: Settings
) -> None:
    """Five blocks begun in one turn of the event loop: one COMMIT, and each block returns once its
    writes are committed. The one that raises writes nothing; the others' writes are all stored."""

    async def scenario(state: AppState) -> tuple[int, list[Any], list[int], list[int]]:
        run_id = await a_run(state)
        counted = counted_writer(state)
        seen_on_return: list[int] = []

        async def block(seq: int) -> None:
            async with state.writes() as writes:
                await writes.executemany(INSERT_STEP, [step(run_id, seq)])
                if seq == 3:
                    raise RuntimeError("block 3 fails")
            seen_on_return.append(len(await steps_of(state, run_id)))

        outcomes = await asyncio.gather(*(block(seq) for seq in range(1, 6)), return_exceptions=True)
        return counted.commits, outcomes, seen_on_return, await steps_of(state, run_id)

    commits, outcomes, seen_on_return, stored = run(scenario, settings)
    assert commits == 1
    assert [type(outcome).__name__ for outcome in outcomes] == ["NoneType"] * 2 + ["RuntimeError"] + ["NoneType"] * 2
    assert stored == [1, 2, 4, 5]
    assert seen_on_return == [4, 4, 4, 4], "each block returned after the commit: another connection saw all four"


@pytest.mark.sqlite_only
@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_group_whose_commit_fails_fails_each_of_its_blocks_and_the_next_goes_ahead(
    backend: str, settings: Settings
) -> None:
    async def scenario(state: AppState) -> tuple[list[Any], list[int], list[int]]:
        run_id = await a_run(state)
        counted = counted_writer(state)
        counted.fail_commit = True

        async def block(seq: int) -> None:
            async with state.writes() as writes:
                await writes.executemany(INSERT_STEP, [step(run_id, seq)])

        outcomes = await asyncio.gather(block(1), block(2), return_exceptions=True)
        after_failure = await steps_of(state, run_id)
        counted.fail_commit = False
        async with asyncio.timeout(5):  # a gate left held would make this wait for ever
            await block(3)
        return outcomes, after_failure, await steps_of(state, run_id)

    outcomes, after_failure, after_retry = run(scenario, settings)
    assert len(outcomes) == 2, outcomes
    assert all(isinstance(outcome, sqlite3.OperationalError) and "disk is full" in str(outcome) for outcome in outcomes)
    assert after_failure == []
    assert after_retry == [3]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_block_that_waits_inside_its_group_commits_when_it_leaves_and_others_wait_their_turn(
    backend: str, settings: Settings
) -> None:
    """A block that awaits something else holds its group open past the commit's turn: the group
    commits when it leaves; a block begun meanwhile waits (blocks of a group run one at a time)."""

    async def scenario(state: AppState) -> tuple[list[str], dict[str, list[int]], int]:
        run_id = await a_run(state)
        counted = counted_writer(state)
        order: list[str] = []
        seen: dict[str, list[int]] = {}

        async def slow() -> None:
            async with state.writes() as writes:
                await writes.executemany(INSERT_STEP, [step(run_id, 1)])
                await asyncio.sleep(0.05)
                order.append("slow leaves")
            seen["slow"] = await steps_of(state, run_id)

        async def quick() -> None:
            await asyncio.sleep(0.01)
            async with state.writes() as writes:
                order.append("quick enters")
                await writes.executemany(INSERT_STEP, [step(run_id, 2)])
            seen["quick"] = await steps_of(state, run_id)

        async with asyncio.timeout(5):
            await asyncio.gather(slow(), quick())
        return order, seen, counted.commits

    order, seen, commits = run(scenario, settings)
    assert order == ["slow leaves", "quick enters"]
    assert 1 in seen["slow"], "committed when the slow block returned"
    assert seen["quick"] == [1, 2]
    assert commits == 2, "the slow block's group committed when it left; the quick one began the next"


def test_compiled_statements_are_bounded(backend: str, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("flowvault.db.compiled.COMPILED_STATEMENTS", 2)

    async def scenario(state: AppState) -> int:
        run_id = await a_run(state)
        writer = state.writes.__self__  # type: ignore[attr-defined]
        async with state.writes() as writes:
            for _ in range(5):  # a new statement object each time: a caller that builds them per call
                await writes.execute(
                    update(RUNS).where(RUNS.c.id == bindparam("run_id")).values(error="x"), {"run_id": run_id}
                )
        return len(writer.statements)

    assert run(scenario, settings) == 2


def test_a_constraint_failure_is_sqlalchemys_integrity_error_and_nothing_is_written(settings: Settings) -> None:
    """Callers handle one family of errors whichever executor ran (the webhook path: a workflow
    deleted while the request body was read)."""

    async def scenario(state: AppState) -> int:
        run_id = await a_run(state)
        with pytest.raises(IntegrityError):
            async with state.writes() as writes:
                await writes.executemany(INSERT_STEP, [step(run_id, 1)])
                await writes.executemany(INSERT_STEP, [step("no-such-run", 1)])
        async with state.sessions() as session:
            return len((await session.scalars(select(RunStep))).all())

    assert run(scenario, settings) == 0


SELECT_RUN = select(RUNS).where(RUNS.c.id == bindparam("run_id"))
START_RUN = (
    update(RUNS)
    .where(RUNS.c.id == bindparam("run_id"))
    .values(started_at=bindparam("now"), path=bindparam("path"))
    .returning(RUNS.c.id, RUNS.c.started_at, RUNS.c.path, RUNS.c.input)
)


def test_rows_read_are_the_rows_sqlalchemy_reads(settings: Settings) -> None:
    """A SELECT and an UPDATE ... RETURNING, through a session and through ``state.writes``."""

    async def scenario(state: AppState) -> list[list[dict[str, Any]]]:
        first, second = await a_run(state), await a_run(state)
        results = []
        for transactions, run_id in ((session_transactions(state.sessions), first), (state.writes, second)):
            async with transactions() as writes:
                returned = await writes.rows(START_RUN, {"run_id": run_id, "now": WHEN, "path": ["t", "ü"]})
                selected = await writes.rows(SELECT_RUN, {"run_id": run_id})
            results.append([{**row, "id": "-"} for row in returned])
            results.append(
                [
                    {**row, "id": "-", "workspace_id": "-", "workflow_id": "-", "queued_at": type(row["queued_at"])}
                    for row in selected
                ]
            )
        return results

    by_session, by_session_select, direct, direct_select = run(scenario, settings)
    assert direct == by_session == [{"id": "-", "started_at": WHEN, "path": ["t", "ü"], "input": {}}]
    assert direct_select == by_session_select
    assert direct_select[0]["queued_at"] is datetime and direct_select[0]["started_at"] == WHEN


def test_lookups_see_what_is_committed_and_never_wait_for_a_writer(settings: Settings) -> None:
    """``state.rows`` while a write transaction is open: it reads the last committed state at once
    (a transaction of its own would keep showing what it saw first)."""

    async def scenario(state: AppState) -> list[str]:
        run_id = await a_run(state)
        seen: list[str] = []

        async def status() -> None:
            async with state.rows() as rows:
                seen.append((await rows.rows(SELECT_RUN, {"run_id": run_id}))[0]["status"])

        await status()
        async with state.writes() as writes:
            await writes.execute(RUN_STATUS, {"run_id": run_id})
            async with asyncio.timeout(5):
                await status()  # not committed yet
        await status()
        return seen

    assert run(scenario, settings) == ["queued", "queued", "running"]


def test_a_missing_parameter_is_refused_by_name(backend: str, settings: Settings) -> None:
    async def scenario(state: AppState) -> None:
        async with state.writes() as writes:
            await writes.execute(RUN_STATUS, {})

    with pytest.raises(ValueError, match="parameter 'run_id'"):
        run(scenario, settings)


def test_many_rows_go_in_one_insert_and_are_stored_alike(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """An INSERT's rows in one statement, typed per column; rows whose keys differ and other statements
    one statement per row. psycopg's own executemany (pipeline mode, which polls for the answer) is
    never used."""

    def no_pipeline(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("psycopg's executemany was used")

    monkeypatch.setattr(psycopg.AsyncCursor, "executemany", no_pipeline)

    async def scenario(state: AppState) -> list[tuple[int, str | None, dict[str, Any], datetime]]:
        run_id = await a_run(state)
        without_error = {k: v for k, v in step(run_id, 9).items() if k != "error"}
        async with state.writes() as writes:
            await writes.executemany(INSERT_STEP, [step(run_id, seq) for seq in (1, 2, 3)])
            await writes.executemany(INSERT_STEP, [step(run_id, 4), without_error])  # keys differ
            await writes.executemany(
                update(STEPS).where(STEPS.c.run_id == bindparam("r"), STEPS.c.seq == bindparam("s")).values(error="x"),
                [{"r": run_id, "s": 1}, {"r": run_id, "s": 3}],
            )
            await writes.executemany(INSERT_STEP, [])
        async with state.sessions() as session:
            stored = await session.scalars(select(RunStep).where(RunStep.run_id == run_id).order_by(RunStep.seq))
            return [(s.seq, s.error, s.input, s.started_at) for s in stored]

    expected = step("", 0)
    assert run(scenario, settings) == [
        (seq, "x" if seq in (1, 3) else None, expected["input"], WHEN) for seq in (1, 2, 3, 4, 9)
    ]


def test_rows_beyond_one_postgresql_statements_parameters_are_all_stored(settings: Settings) -> None:
    """5,000 steps of 14 columns are 70,000 parameters: more than one PostgreSQL statement takes."""

    async def scenario(state: AppState) -> list[int]:
        run_id = await a_run(state)
        async with state.writes() as writes:
            await writes.executemany(INSERT_STEP, [step(run_id, seq) for seq in range(5000)])
        async with state.sessions() as session:
            stored = select(RunStep.seq).where(RunStep.run_id == run_id).order_by(RunStep.seq)
            return list(await session.scalars(stored))

    assert run(scenario, settings) == list(range(5000))


@POSTGRESQL
def test_multi_row_inserts_leave_the_run_paths_statements_compiled(
    backend: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A multi-row INSERT is compiled per row count; runs of every length must not push the run path's
    other statements out of their bound (they would be compiled again and again)."""
    monkeypatch.setattr("flowvault.db.compiled.COMPILED_STATEMENTS", 2)
    compiled: list[str] = []

    class Counted(Compiled):
        def __init__(self, statement: Any, keys: list[str], dialect: Any) -> None:
            super().__init__(statement, keys, dialect)
            compiled.append(self.sql)

    monkeypatch.setattr("flowvault.db.compiled.Compiled", Counted)

    async def scenario(state: AppState) -> int:
        run_id = await a_run(state)
        for attempt in range(2):
            async with state.writes() as writes:
                await writes.execute(RUN_STATUS, {"run_id": run_id})
                for rows in (1, 2, 3):  # runs of three lengths finish in between
                    first = 100 * attempt + 10 * rows
                    await writes.executemany(INSERT_STEP, [step(run_id, first + i) for i in range(rows)])
        return sum(sql.startswith("UPDATE runs") for sql in compiled)

    assert run(scenario, settings) == 1


def postgres_writer(state: AppState) -> PostgresWriter:
    writer = state.writes.__self__  # type: ignore[attr-defined]
    assert isinstance(writer, PostgresWriter)
    return writer


@POSTGRESQL
def test_postgresql_connections_are_bounded_and_a_wait_that_lasts_says_what_to_raise(
    backend: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``FLOWVAULT_DATABASE_POOL_SIZE`` = 1: two transactions at once (the pool and as many more at a
    peak), a third waits, and gives up after the wait with the setting's name; one connection stays."""
    monkeypatch.setattr("flowvault.db.direct_postgres.WAIT_SECONDS", 0.3)

    async def scenario(state: AppState) -> tuple[str, int, int]:
        run_id = await a_run(state)
        held = asyncio.Event()
        release = asyncio.Event()

        async def hold() -> None:
            async with state.writes() as writes:
                await writes.execute(RUN_STATUS, {"run_id": run_id})
                held.set()
                await release.wait()

        holders = [asyncio.create_task(hold()) for _ in range(2)]
        async with asyncio.timeout(5):
            await held.wait()
            await asyncio.sleep(0.05)
        with pytest.raises(PoolTimeout) as waited:
            async with state.rows() as rows:
                await rows.rows(SELECT_RUN, {"run_id": run_id})
        release.set()
        await asyncio.gather(*holders)
        async with state.rows() as rows:  # a connection is free again
            found = await rows.rows(SELECT_RUN, {"run_id": run_id})
        return str(waited.value), len(found), len(postgres_writer(state)._idle)

    message, found, idle = run(scenario, settings.model_copy(update={"database_pool_size": 1}))
    assert "FLOWVAULT_DATABASE_POOL_SIZE" in message and "2 database connections" in message
    assert (found, idle) == (1, 1)


@POSTGRESQL
def test_postgresql_connections_the_server_closed_are_replaced(
    backend: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ends every idle connection (as a restart does): the next transaction and the next
    read go ahead on new ones. A connection that saw an error is not reused."""

    async def terminate_others(state: AppState) -> int:
        async with state.sessions() as session:
            ended = await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                )
            )
            return len(ended.all())

    async def scenario(state: AppState) -> list[str]:
        run_id = await a_run(state)
        writer = postgres_writer(state)

        async def set_running() -> str:
            async with state.writes() as writes:
                await writes.execute(RUN_STATUS, {"run_id": run_id})
            return "written"

        async def read_status() -> str:
            async with state.rows() as rows:
                return str((await rows.rows(SELECT_RUN, {"run_id": run_id}))[0]["status"])

        done = []
        # Idle a moment: the transaction's BEGIN finds the connection broken. Idle "long": checked first.
        for check_after, next_use in ((3600.0, set_running), (0.0, read_status)):
            monkeypatch.setattr("flowvault.db.direct_postgres.CHECK_AFTER_IDLE_SECONDS", check_after)
            await read_status()
            before = {id(connection) for connection, _ in writer._idle}
            assert before and await terminate_others(state) >= len(before)
            done.append(await next_use())
            assert not {id(connection) for connection, _ in writer._idle} & before
        with pytest.raises(IntegrityError):
            async with state.writes() as writes:
                await writes.executemany(INSERT_STEP, [step("no-such-run", 1)])
        assert not writer._idle  # the connection that saw the error was closed, not given back
        done.append(await read_status())
        return done

    assert run(scenario, settings) == ["written", "running", "running"]


def sent_flights(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """What each PostgreSQL flight held (each statement's first word), as it is sent from now on."""
    flights: list[list[str]] = []
    fly = PostgresWrites._fly

    async def counted(self: PostgresWrites, flight: list[tuple[str, tuple[Any, ...]]]) -> Any:
        flights.append([sql.split()[0] for sql, _ in flight])
        return await fly(self, flight)

    monkeypatch.setattr(PostgresWrites, "_fly", counted)
    return flights


@POSTGRESQL
def test_postgresql_sends_statements_whose_results_are_not_read_with_the_next_one(
    backend: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Round trips: a webhook's INSERT goes alone (a transaction of one statement is one in autocommit),
    an UPDATE whose row count is read goes with BEGIN and the steps after it with the COMMIT, an empty
    transaction sends nothing. What waited ran first and in order: the read after it sees it."""
    flights = sent_flights(monkeypatch)
    count_steps = select(func.count()).select_from(STEPS).where(STEPS.c.run_id == bindparam("run_id"))

    async def scenario(state: AppState) -> tuple[list[list[str]], int]:
        run_id = await a_run(state)
        flights.clear()
        async with state.writes() as writes:
            await writes.add(insert(STEPS), step(run_id, 1))
        async with state.writes() as writes:
            assert await writes.execute(RUN_STATUS, {"run_id": run_id}) == 1
            await writes.executemany(INSERT_STEP, [step(run_id, 2), step(run_id, 3)])
            await writes.add(delete(STEPS).where(STEPS.c.seq == bindparam("seq")), {"seq": 1})
        async with state.writes():
            pass
        async with state.writes() as writes:
            await writes.executemany(INSERT_STEP, [step(run_id, 4)])
            seen = (await writes.rows(count_steps, {"run_id": run_id}))[0]
        return flights, next(iter(seen.values()))

    sent, counted_steps = run(scenario, settings)
    assert sent == [
        ["INSERT"],
        ["BEGIN", "UPDATE"],
        ["INSERT", "DELETE", "COMMIT"],
        ["BEGIN", "INSERT", "SELECT"],
        ["COMMIT"],
    ]
    assert counted_steps == 3  # seq 2, 3 and 4: seq 1 was deleted, seq 4 counted before the commit


@POSTGRESQL
def test_a_transaction_that_commits_in_one_flight_is_not_sent_on_a_connection_the_server_closed(
    backend: str, settings: Settings
) -> None:
    """Such a flight is never sent again (it may have committed), so a connection the server ended while
    it sat idle must be seen before: it is, without a round trip, and the write goes on a new one."""

    async def scenario(state: AppState) -> tuple[int, bool]:
        run_id = await a_run(state)
        writer = postgres_writer(state)
        async with state.writes() as writes:
            await writes.execute(RUN_STATUS, {"run_id": run_id})  # leaves an idle connection behind
        (idle, _), = writer._idle
        async with state.sessions() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": idle.info.backend_pid})
            for _ in range(100):  # the backend exits shortly after the signal
                gone = await session.scalar(
                    text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid"), {"pid": idle.info.backend_pid}
                )
                if gone:
                    break
                await asyncio.sleep(0.05)
        async with state.writes() as writes:
            await writes.add(insert(STEPS), step(run_id, 1))
        async with state.sessions() as session:
            stored = len((await session.scalars(select(RunStep).where(RunStep.run_id == run_id))).all())
        return stored, idle in [connection for connection, _ in writer._idle]

    assert run(scenario, settings) == (1, False)


@POSTGRESQL
def test_an_idle_connection_is_checked_whatever_its_descriptor_number(backend: str, settings: Settings) -> None:
    """A busy process holds more than 1,024 descriptors (select() refuses those): the idle check works
    on connections beyond them."""
    needed = 1100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed + 100:
        pytest.skip(f"this machine allows {hard} open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed + 100), hard))
    spare = []
    try:
        while not spare or spare[-1] < needed:
            spare.append(os.open(os.devnull, os.O_RDONLY))

        async def scenario(state: AppState) -> tuple[int, int]:
            run_id = await a_run(state)
            for _ in range(2):  # the second transaction takes the first one's idle connection
                async with state.writes() as writes:
                    await writes.execute(RUN_STATUS, {"run_id": run_id})
            (connection, _), = postgres_writer(state)._idle
            return connection.pgconn.socket, len(postgres_writer(state)._idle)

        descriptor, idle = run(scenario, settings)
        assert descriptor > 1024 and idle == 1
    finally:
        for fd in spare:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_required_update_that_changes_no_row_fails_its_transaction_and_nothing_is_written(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``require``: the finish of a run another attempt took over. On PostgreSQL the check goes in the
    transaction's one flight (with the steps and the COMMIT), and the server stops the flight there."""
    flights = sent_flights(monkeypatch)
    of_run = update(RUNS).where(RUNS.c.id == bindparam("run_id")).values(error=bindparam("error"))

    async def scenario(state: AppState) -> tuple[list[tuple[str | None, int]], list[list[str]]]:
        run_id = await a_run(state)
        flights.clear()
        for target, error in ((run_id, "first"), ("no-such-run", "second")):
            with contextlib.suppress(RowsUnchanged):
                async with state.writes() as writes:
                    await writes.executemany(INSERT_STEP, [step(run_id, 1 if error == "first" else 2)])
                    await writes.require(of_run, {"run_id": target, "error": error})
        async with state.sessions() as session:
            run_row = await session.get(Run, run_id)
            steps = len((await session.scalars(select(RunStep).where(RunStep.run_id == run_id))).all())
            return [(run_row.error if run_row else None, steps)], list(flights)

    written, sent = run(scenario, settings)
    assert written == [("first", 1)]
    if not settings.is_sqlite:
        assert sent == [["BEGIN", "INSERT", "WITH", "COMMIT"]] * 2


@POSTGRESQL
def test_a_division_by_zero_of_the_callers_own_is_sqlalchemys_error_not_rows_unchanged(
    backend: str, settings: Settings
) -> None:
    """Only a ``require`` check's division by zero means "no row changed"; any other is the database
    error it is, in SQLAlchemy's family like every other failure."""
    divide = select(literal_column("1") / literal_column("0"))

    async def scenario(state: AppState) -> None:
        async with state.writes() as writes:
            await writes.rows(divide, {})

    with pytest.raises(DataError, match="division by zero"):
        run(scenario, settings)
