"""A node runs until it ends or its run is canceled; a cancel of the run stops the node in the middle,
and a cancellation of the executing task itself is passed on, never mistaken for a canceled run."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from flowvault.engine.executor import _Canceled, _unless_canceled
from flowvault.nodes.sdk import NodeResult


class Host:
    def __init__(self) -> None:
        self.canceled = asyncio.Event()

    async def wait_cancelled(self) -> None:
        await self.canceled.wait()


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(scenario)


def test_a_node_that_ends_gives_its_result_or_its_error() -> None:
    async def scenario() -> None:
        async def ok() -> NodeResult:
            await asyncio.sleep(0)
            return NodeResult(output={"n": 1})

        async def broken() -> NodeResult:
            raise ValueError("node failed")

        assert (await _unless_canceled(ok(), Host())).output == {"n": 1}  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="node failed"):
            await _unless_canceled(broken(), Host())  # type: ignore[arg-type]

    run(scenario())


def test_canceling_the_run_stops_the_node_in_the_middle() -> None:
    async def scenario() -> None:
        host = Host()
        stopped = asyncio.Event()

        async def slow() -> NodeResult:
            try:
                await asyncio.sleep(30)
            finally:
                stopped.set()
            return NodeResult(output={})

        asyncio.get_running_loop().call_later(0.05, host.canceled.set)
        with pytest.raises(_Canceled):
            await asyncio.wait_for(_unless_canceled(slow(), host), 5)  # type: ignore[arg-type]
        assert stopped.is_set()

    run(scenario())


def test_cancelling_the_executing_task_is_passed_on_and_stops_the_node() -> None:
    async def scenario() -> None:
        stopped = asyncio.Event()
        started = asyncio.Event()

        async def slow() -> NodeResult:
            started.set()
            try:
                await asyncio.sleep(30)
            finally:
                stopped.set()
            return NodeResult(output={})

        task = asyncio.ensure_future(_unless_canceled(slow(), Host()))  # type: ignore[arg-type]
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert stopped.is_set()

    run(scenario())
