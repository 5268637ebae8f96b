"""What-if experiments: ``flowvault serve`` with changes to files this harness does not own, applied
in memory at start-up, to measure a recommendation before its owner makes it. Nothing here ships.

    python -m bench.experiments serve --port 8000        # with BENCH_EXPERIMENTS=shared_ssl,shared_clients

- ``shared_ssl``: one TLS context per process. Today every ``httpx.AsyncHTTPTransport`` (so every
  ``PinnedTransport`` pool, so every run) builds a new ``ssl.SSLContext`` and loads certifi's CA
  bundle into it; the context is immutable once built and safe to share.
- ``shared_clients``: ``DbRunHost.http_client`` returns one ``GuardedClient`` per (egress policy) for
  the whole process instead of one per run, so connections to an API are kept alive across runs.
  The guard still checks every request; only the connection pool is shared.
- ``sqlite_pool1`` / ``sqlite_pool3``: the SQLite engine with a pool of 1 (or 3) connections and
  no overflow, instead of SQLAlchemy's default 5 + 10 overflow: every aiosqlite connection is a
  thread, and every statement a hand-off between it and the event loop under the GIL.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any


def _shared_ssl() -> None:
    import httpx._config
    import httpx._transports.default as default

    original = httpx._config.create_ssl_context

    @functools.lru_cache(maxsize=8)
    def _cached(verify: bool, trust_env: bool) -> Any:
        return original(verify=verify, trust_env=trust_env)

    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        if isinstance(verify, bool) and cert is None:
            return _cached(verify, trust_env)
        return original(verify=verify, cert=cert, trust_env=trust_env)

    setattr(default, "create_ssl_context", create_ssl_context)  # noqa: B010 - not a public name


def _shared_clients() -> None:
    from flowvault.egress import EgressPolicy, GuardedClient
    from flowvault.runs import host as run_host

    cls = run_host.DbRunHost
    for name in ("http_client", "aclose"):
        if name not in cls.__dict__:
            raise SystemExit(f"experiment shared_clients: DbRunHost.{name} is gone; update bench/experiments.py")
    clients: dict[tuple[Any, ...], GuardedClient] = {}

    def http_client(self: Any, kind: Any) -> GuardedClient:
        settings = self.state.settings
        services = tuple(h for s in kind.services if (h := run_host.service_host(settings.service_url(s))))
        key = (tuple(self.allowlist) + services, settings.private_host_exemptions)
        client = clients.get(key)
        if client is None:
            client = clients[key] = GuardedClient(EgressPolicy(allowed_hosts=key[0], exempt_private=key[1]))
        return client

    cls.http_client = http_client  # type: ignore[method-assign]


def _sqlite_pool(size: int) -> Any:
    def patch() -> None:
        from flowvault.db import engine as db_engine

        original = getattr(db_engine, "create_async_engine")  # noqa: B009 - not a public name

        def create_async_engine(url: str, **kwargs: Any) -> Any:
            if url.startswith("sqlite"):
                kwargs |= {"pool_size": size, "max_overflow": 0}
            return original(url, **kwargs)

        setattr(db_engine, "create_async_engine", create_async_engine)  # noqa: B010

    return patch


def _count_sql() -> None:
    """Counts the SQL statements, commits and connection checkouts of the whole process, by kind
    and table, and writes them to ``$BENCH_SQL_COUNTS`` (JSON) when the process exits."""
    import json
    import re
    import threading
    import time
    from collections import Counter

    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    from flowvault.db import engine as db_engine

    counts: Counter[str] = Counter()
    table = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", re.I)

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        kind = sql.split(None, 1)[0].upper() if sql.strip() else "?"
        found = table.search(sql)
        counts[f"{kind} {found.group(1) if found else ''}".strip()] += 1
        counts["statements"] += 1

    def on_commit(conn: Any) -> None:
        counts["commits"] += 1

    def checkout(*args: Any) -> None:
        counts["checkouts"] += 1

    def connect(*args: Any) -> None:
        counts["connects (new connection + thread)"] += 1

    original = db_engine.make_engine

    def make_engine(url: str, **options: Any) -> Any:
        engine = original(url, **options)
        event.listen(engine.sync_engine, "before_cursor_execute", statement)
        event.listen(engine.sync_engine, "commit", on_commit)
        return engine

    event.listen(Pool, "checkout", checkout)
    event.listen(Pool, "connect", connect)
    db_engine.make_engine = make_engine
    from flowvault import bootstrap

    bootstrap.make_engine = make_engine  # type: ignore[attr-defined]

    def dump_every_second() -> None:  # uvicorn ends by re-raising SIGTERM: atexit would never run
        target = os.environ.get("BENCH_SQL_COUNTS")
        while target:
            time.sleep(1.0)
            with open(target + ".tmp", "w") as handle:
                json.dump(dict(counts.most_common()), handle, indent=1)
            os.replace(target + ".tmp", target)

    threading.Thread(target=dump_every_second, name="bench-sql-counts", daemon=True).start()


def _slow_timers() -> None:
    """serve's periodic work (the scheduler's tick, the cancel watch's poll, the dispatcher's idle poll)
    ``VALGRIND_SLOWDOWN`` times less often: under valgrind, where a run takes that many times as long,
    they then fire as often per run as at full speed (``bench.instructions`` ``count_serve``)."""
    from bench.instructions import VALGRIND_SLOWDOWN as factor
    from flowvault.dispatch import embedded
    from flowvault.runs.cancel import CancelWatch
    from flowvault.triggers.scheduler import Scheduler

    keyword = Scheduler.__init__.__kwdefaults__
    positional = CancelWatch.__init__.__defaults__
    if not keyword or "poll_seconds" not in keyword or not positional or len(positional) != 1:
        raise SystemExit("experiment slow_timers: the timers' defaults moved; update bench/experiments.py")
    keyword["poll_seconds"] *= factor
    CancelWatch.__init__.__defaults__ = (positional[0] * factor,)
    embedded.IDLE_POLL_SECONDS *= factor


EXPERIMENTS = {
    "count_sql": _count_sql,
    "slow_timers": _slow_timers,
    "shared_ssl": _shared_ssl,
    "shared_clients": _shared_clients,
    "sqlite_pool1": _sqlite_pool(1),
    "sqlite_pool3": _sqlite_pool(3),
}


def apply(names: str) -> list[str]:
    applied = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        if name not in EXPERIMENTS:
            raise SystemExit(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
        EXPERIMENTS[name]()
        applied.append(name)
    return applied


def main() -> None:
    applied = apply(os.environ.get("BENCH_EXPERIMENTS", ""))
    print(f"bench experiments applied: {', '.join(applied) or 'none'}", file=sys.stderr)
    from flowvault.cli import main as flowvault_main

    sys.argv = ["flowvault", *sys.argv[1:]]
    flowvault_main()


if __name__ == "__main__":
    main()
