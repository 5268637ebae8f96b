"""What a run's host adds to its finishing transaction (``DbRunHost.write_pending``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from flowvault.deps import AppState
from flowvault.nodes.sdk import ResolvedCredential
from flowvault.runs import host as run_host
from flowvault.runs.host import LAST_USED_PRECISION, DbRunHost
from flowvault.runs.models import Run


class Recorded:
    """A transaction that keeps what it was given."""

    dialect = "sqlite"

    def __init__(self) -> None:
        self.many: list[tuple[Any, list[Mapping[str, Any]]]] = []

    async def execute(self, statement: Any, params: Mapping[str, Any]) -> int:
        raise AssertionError("write_pending reads no row counts")

    async def add(self, statement: Any, params: Mapping[str, Any]) -> None:
        self.many.append((statement, [params]))

    async def rows(self, statement: Any, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        raise AssertionError("write_pending reads no rows")

    async def executemany(self, statement: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        self.many.append((statement, list(rows)))

    def marked(self) -> list[str]:
        return [row["secret_id"] for statement, rows in self.many if statement is run_host._SECRET_USED for row in rows]


def test_a_secret_this_process_marked_used_within_the_precision_is_not_sent_an_update(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The UPDATE would change nothing: it is left out (its audit entry is not); a second later it is sent."""
    start = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    clock = [start]
    monkeypatch.setattr(run_host, "utcnow", lambda: clock[0])
    busy, other = (f"secret-{uuid.uuid4()}" for _ in range(2))
    run = Run(id="run", workspace_id="ws", workflow_id="wf", workflow_version=1, trigger="manual", input={})
    host = DbRunHost(cast(AppState, None), run, ())

    def credential(secret_id: str) -> ResolvedCredential:
        return ResolvedCredential(id=secret_id, name="API", type="http_bearer", fields={"token": "t"}, hosts=())

    async def finish(*used: str, after: timedelta) -> tuple[list[str], int]:
        clock[0] = start + after
        for secret_id in used:
            await host.credential_used("node", "Node", credential(secret_id))
        writes = Recorded()
        await host.write_pending(writes)
        audited = sum(len(rows) for statement, rows in writes.many if statement is not run_host._SECRET_USED)
        return writes.marked(), audited

    async def scenario() -> list[tuple[list[str], int]]:
        return [
            await finish(busy, after=timedelta(0)),
            await finish(busy, other, after=LAST_USED_PRECISION / 2),
            await finish(busy, after=LAST_USED_PRECISION * 2),
            await finish(busy, after=LAST_USED_PRECISION),  # the clock went back: sent again
        ]

    assert asyncio.run(scenario()) == [([busy], 1), ([other], 2), ([busy], 1), ([busy], 1)]
