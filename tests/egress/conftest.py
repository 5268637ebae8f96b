"""Fakes for the egress tests: a scripted resolver and a transport that records what it was sent."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Sequence

import httpx
import pytest_asyncio

from flowvault.egress import EgressBlocked, EgressPolicy, GuardedClient

Handler = Callable[[httpx.Request], httpx.Response]


class FakeResolver:
    """Answers from a script: ``{"host": [first_answer, second_answer, ...]}``; the last answer repeats."""

    def __init__(self, script: dict[str, Sequence[Sequence[str]]] | None = None) -> None:
        self.script = {host: list(answers) for host, answers in (script or {}).items()}
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        answers = self.script.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(answers.pop(0) if len(answers) > 1 else answers[0])


class Recorder:
    """An ``httpx.MockTransport`` handler that keeps every request it receives."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.handler is None:
            return httpx.Response(200, text="ok")
        return self.handler(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


class Harness:
    """A guarded client over a recorder, with the blocks it reported."""

    def __init__(self, policy: EgressPolicy, resolver: FakeResolver, recorder: Recorder) -> None:
        self.resolver = resolver
        self.recorder = recorder
        self.blocked: list[EgressBlocked] = []
        self.client = GuardedClient(
            policy, resolver=resolver, transport=recorder.transport, on_blocked=self.blocked.append
        )


@pytest_asyncio.fixture
async def make_harness() -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(
        allowed: Sequence[str] = ("*.example",),
        dns: dict[str, Sequence[Sequence[str]]] | None = None,
        handler: Handler | None = None,
        exempt: Sequence[str] = (),
        max_redirects: int = 5,
    ) -> Harness:
        policy = EgressPolicy(
            allowed_hosts=tuple(allowed), exempt_private=frozenset(exempt), max_redirects=max_redirects
        )
        harness = Harness(policy, FakeResolver(dns), Recorder(handler))
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.client.aclose()
