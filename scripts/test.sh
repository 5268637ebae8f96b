#!/usr/bin/env bash
# `make test`: installs what the tests need (PostgreSQL and Redis from Debian when missing), starts
# throwaway instances on free loopback ports, runs ruff, mypy and pytest (against SQLite and
# PostgreSQL), and stops what it started. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
T0=$SECONDS
step() { echo "== [$((SECONDS - T0))s] $*"; }

need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)   # the web tests drive Debian's Chromium
if [ "${#need_apt[@]}" -gt 0 ]; then
  step "installing ${need_apt[*]} from Debian"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

free_port() { "$BIN/python" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
PGPORT=$(free_port)
REDISPORT=$(free_port)
RUNDIR=$(mktemp -d -t flowvault-test.XXXXXX)
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$RUNDIR"

cleanup() {
  if [ -f "$RUNDIR/redis.pid" ]; then kill "$(cat "$RUNDIR/redis.pid")" 2>/dev/null || true; fi
  if [ -f "$RUNDIR/data/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$RUNDIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$RUNDIR"
}
trap cleanup EXIT

step "PostgreSQL on 127.0.0.1:$PGPORT"
as_pg "$PGBIN/initdb" -D "$RUNDIR/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$RUNDIR/data" -l "$RUNDIR/pg.log" -w -t 60 \
  -o "-p $PGPORT -c listen_addresses=127.0.0.1 -k $RUNDIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres flowvault_test

step "Redis on 127.0.0.1:$REDISPORT"
redis-server --bind 127.0.0.1 --port "$REDISPORT" --save '' --appendonly no \
  --daemonize yes --pidfile "$RUNDIR/redis.pid" --logfile "$RUNDIR/redis.log" --dir "$RUNDIR"
for _ in $(seq 50); do
  redis-cli -h 127.0.0.1 -p "$REDISPORT" ping 2>/dev/null | grep -q PONG && break
  sleep 0.1
done

export FLOWVAULT_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/flowvault_test"
export FLOWVAULT_TEST_REDIS_URL="redis://127.0.0.1:$REDISPORT/0"
export FLOWVAULT_TEST_PG_BIN="$PGBIN"

step "web app (npm ci + build when sources changed)"
make -s web
step "ruff"
"$BIN/ruff" check src tests
step "mypy"
"$BIN/mypy"
step "pytest (SQLite and PostgreSQL)"
set +e
"$BIN/python" -m pytest -p no:cacheprovider -q "$@"
rc=$?
set -e
step "pytest exited $rc"
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi
exit "$rc"
