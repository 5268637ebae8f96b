"""Fixtures of the scale-out tests (see ``cluster.py``): ``cluster`` (an empty database and broker, and an
environment to start ``flowvault worker`` processes in), ``workers`` (one cluster with two running workers,
shared by the tests of a module) and ``gauge`` (a fake that counts the requests in flight)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from flowvault.config import Settings
from flowvault.db import migrate
from flowvault.secrets.keyring import create_key_file
from tests.dispatch.cluster import LEASE_SECONDS, POSTGRES_URL, REDIS_URL, Cluster, Gauge, flush_redis, truncate
from tests.fakes import DEFAULT_HOST, FakeEcho


@contextmanager
def open_cluster(root: Path, allowed_host: str) -> Iterator[Cluster]:
    """Empty database and broker; settings for the app and an environment for ``flowvault worker`` (start
    workers with ``cluster.start_worker``; every one is stopped at the end). ``allowed_host`` is exempted
    from the private-address block (where the fakes listen)."""
    assert POSTGRES_URL and REDIS_URL
    migrate.upgrade(POSTGRES_URL)
    truncate(POSTGRES_URL)
    flush_redis(REDIS_URL)
    data_dir = root / "data"
    data_dir.mkdir()
    create_key_file(data_dir / "master.key")
    settings = Settings(
        data_dir=data_dir, database_url=POSTGRES_URL, master_keys=None, master_key_file=None,
        executor="celery", redis_url=REDIS_URL, allow_private_hosts=allowed_host, run_lease_seconds=LEASE_SECONDS,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWVAULT_")}
    env.update({
        "FLOWVAULT_DATA_DIR": str(data_dir),
        "FLOWVAULT_DATABASE_URL": POSTGRES_URL,
        "FLOWVAULT_EXECUTOR": "celery",
        "FLOWVAULT_REDIS_URL": REDIS_URL,
        "FLOWVAULT_ALLOW_PRIVATE_HOSTS": allowed_host,
        "FLOWVAULT_RUN_LEASE_SECONDS": str(LEASE_SECONDS),
    })
    logs = root / "logs"
    logs.mkdir()
    cluster = Cluster(settings, env, logs, [])
    try:
        yield cluster
    finally:
        cluster.stop_all()
        truncate(POSTGRES_URL)
        flush_redis(REDIS_URL)


@pytest.fixture
def cluster(tmp_path: Path, fake_echo: FakeEcho) -> Iterator[Cluster]:
    """A cluster of this test alone, without workers yet."""
    with open_cluster(tmp_path, fake_echo.host) as opened:
        yield opened


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster with two workers of two pool processes each, both consuming, shared by the module's tests
    (each test works in its own workspace, and leaves no run queued or running)."""
    with open_cluster(tmp_path_factory.mktemp("cluster"), DEFAULT_HOST) as opened:
        opened.start_worker(2)
        opened.start_worker(2)
        opened.wait_ready()
        yield opened


@pytest.fixture
def gauge() -> Iterator[Gauge]:
    """A ``Gauge`` on the host the clusters allow (that of the fakes), on a port of its own."""
    with Gauge(DEFAULT_HOST) as server:
        yield server
