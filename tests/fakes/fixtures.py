"""Pytest fixtures ``fake_slack``, ``fake_sendgrid`` and ``fake_echo``.

To use them from any test, a conftest imports them (the import is the registration):

    from tests.fakes.fixtures import fake_echo, fake_sendgrid, fake_slack  # noqa: F401

Scope: each fixture is function-scoped, but the server behind it is started once per pytest
session (lazily, on first use) and stopped when the session ends. Before every test the fixture
calls ``reset()``, which forgets recorded requests, messages and mails, drops queued
``fail_next`` answers and restores the configuration (``valid_tokens``, ``valid_keys``,
``scopes``...), so tests never see each other's traffic or settings. The URL (port) stays the same
for the whole session. Starting costs a few milliseconds, stopping about 0.1-0.2 s (uvicorn's
shutdown tick), which is why the servers are shared rather than restarted per test.

A test that needs an isolated or differently configured server (another host, its own port)
builds one directly: ``with FakeSlack(host="127.0.0.3") as slack: ...``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest

from tests.fakes.echo import FakeEcho
from tests.fakes.sendgrid import FakeSendGrid
from tests.fakes.server import FakeServer
from tests.fakes.slack import FakeSlack

F = TypeVar("F", bound=FakeServer)

_SLACK = pytest.StashKey[FakeSlack]()
_SENDGRID = pytest.StashKey[FakeSendGrid]()
_ECHO = pytest.StashKey[FakeEcho]()


def _shared(config: pytest.Config, key: pytest.StashKey[F], factory: Callable[[], F]) -> F:
    """The session's server for ``key``, started on first use and reset for the calling test."""
    server = config.stash.get(key, None)
    if server is None:
        server = factory().start()
        config.stash[key] = server
        config.add_cleanup(server.stop)
    server.reset()
    return server


@pytest.fixture
def fake_slack(pytestconfig: pytest.Config) -> FakeSlack:
    """A running FakeSlack (valid token: ``tests.fakes.slack.SLACK_TOKEN``), reset for this test."""
    return _shared(pytestconfig, _SLACK, FakeSlack)


@pytest.fixture
def fake_sendgrid(pytestconfig: pytest.Config) -> FakeSendGrid:
    """A running FakeSendGrid (valid key: ``tests.fakes.sendgrid.SENDGRID_KEY``), reset for this test."""
    return _shared(pytestconfig, _SENDGRID, FakeSendGrid)


@pytest.fixture
def fake_echo(pytestconfig: pytest.Config) -> FakeEcho:
    """A running FakeEcho, reset for this test."""
    return _shared(pytestconfig, _ECHO, FakeEcho)
