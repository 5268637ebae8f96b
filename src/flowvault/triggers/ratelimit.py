"""Webhook rate limits: token buckets, one per key (a workflow id).

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; each request takes
one. ``take`` answers 0.0 when there was a token, else the seconds until there will be one.

- ``TokenBuckets``: the buckets in this process. Pure; the clock is passed in. The number of buckets is
  bounded (least recently used are dropped, which only ever lets a dropped key start full again).
- ``RedisTokenBuckets`` (when ``FLOWVAULT_REDIS_URL`` is set): the same buckets kept in Redis, so every
  ``serve`` process shares them (SPEC §8). One Lua script reads, refills, takes and writes a bucket
  atomically, on the Redis server's clock (``TIME``): the processes' clocks play no part. A bucket
  expires once it would be full again, so idle ones vanish. While Redis cannot be reached or errs,
  each request falls back to buckets in this process (webhooks are never refused because of the
  limiter), with a warning in the log, and Redis is tried again after a short pause.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("flowvault.triggers")

KEY_PREFIX = "flowvault:hook-rate:"


class TokenBuckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, *, rate: float, burst: int) -> float:
        """Takes one token: 0.0 when there was one, else the seconds until there will be."""
        now = self.clock()
        tokens, last = self._buckets.pop(key, (float(burst), now))
        tokens = min(float(burst), tokens + max(0.0, now - last) * rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


class HookLimiter(Protocol):
    """What the webhook endpoint awaits (``AppState.hook_limiter``)."""

    async def take(self, key: str, *, rate: float, burst: int) -> float: ...

    async def aclose(self) -> None: ...


class InProcessLimiter:
    """``TokenBuckets`` behind the async interface: the limit is kept by this process alone."""

    def __init__(self, buckets: TokenBuckets | None = None) -> None:
        self.buckets = buckets if buckets is not None else TokenBuckets()

    async def take(self, key: str, *, rate: float, burst: int) -> float:
        return self.buckets.take(key, rate=rate, burst=burst)

    async def aclose(self) -> None:
        return None


# KEYS[1]: the bucket (a hash: t = tokens, us = microseconds of the last take on the server's clock).
# ARGV: rate (tokens/s), burst, expiry (ms). Returns the wait in seconds, as a string (a Lua number
# returned as such would be truncated to an integer). Same arithmetic as TokenBuckets.take.
TAKE_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local stored = redis.call('HMGET', KEYS[1], 't', 'us')
local tokens = tonumber(stored[1])
local last = tonumber(stored[2])
if tokens == nil or last == nil then
  tokens = burst
  last = now
end
local elapsed = (now - last) / 1000000
if elapsed < 0 then elapsed = 0 end
tokens = math.min(burst, tokens + elapsed * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'us', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return string.format('%.17g', wait)
"""
TAKE_SCRIPT_SHA = hashlib.sha1(TAKE_SCRIPT.encode(), usedforsecurity=False).hexdigest()


def expiry_ms(*, rate: float, burst: int) -> int:
    """How long after its last take a bucket is full again (plus a second): then it is as good as absent."""
    return math.ceil(burst / rate * 1000) + 1000


class RedisTokenBuckets:
    """Token buckets shared by every process through Redis; one client (a connection pool) per process,
    connected on first use. ``aclose`` closes it (the app's shutdown calls it)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = KEY_PREFIX,
        fallback: TokenBuckets | None = None,
        timeout_s: float = 0.5,
        pause_after_failure_s: float = 2.0,
        warn_every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self.prefix = prefix
        self.fallback = fallback if fallback is not None else TokenBuckets()
        self.timeout_s = timeout_s
        self.pause_after_failure_s = pause_after_failure_s
        self.warn_every_s = warn_every_s
        self.clock = clock
        self._client: Redis | None = None
        self._skip_until = -math.inf
        self._warned_at = -math.inf
        self._failures = 0
        """Failures since the last warning (or since Redis answered again)."""
        self._degraded = False

    def __repr__(self) -> str:  # never the URL: it may hold a password
        return f"RedisTokenBuckets(prefix={self.prefix!r})"

    @property
    def degraded(self) -> bool:
        """True while the limit is kept in this process because Redis failed."""
        return self._degraded

    def _redis(self) -> Redis:
        if self._client is None:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            # One immediate retry reconnects a pooled connection Redis closed (a restart); no backoff:
            # a webhook request must not wait on an outage, it falls back instead.
            self._client = Redis.from_url(
                self._url,
                decode_responses=True,
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s,
                retry=Retry(NoBackoff(), 1),
            )
        return self._client

    async def _take_shared(self, key: str, *, rate: float, burst: int) -> float:
        from redis.exceptions import NoScriptError

        client = self._redis()
        args = (self.prefix + key, repr(float(rate)), str(int(burst)), str(expiry_ms(rate=rate, burst=burst)))
        try:
            answer = await client.evalsha(TAKE_SCRIPT_SHA, 1, *args)
        except NoScriptError:  # not cached yet (or Redis restarted): EVAL sends it, and caches it
            answer = await client.eval(TAKE_SCRIPT, 1, *args)
        return float(answer)

    async def take(self, key: str, *, rate: float, burst: int) -> float:
        from redis.exceptions import RedisError

        now = self.clock()
        if now >= self._skip_until:
            try:
                wait = await self._take_shared(key, rate=rate, burst=burst)
            except (RedisError, OSError, ValueError) as exc:
                self._failed(exc, now)
            else:
                if self._degraded:
                    self._degraded = False
                    self._failures = 0
                    log.info("webhook rate limits: Redis answers again; the limits are shared again")
                return wait
        return self.fallback.take(key, rate=rate, burst=burst)

    def _failed(self, exc: Exception, now: float) -> None:
        self._degraded = True
        self._skip_until = now + self.pause_after_failure_s
        self._failures += 1
        if now - self._warned_at >= self.warn_every_s:
            # The exception's type only: its message may name the server, and the URL may hold a password.
            log.warning(
                "webhook rate limits: Redis failed (%s, %d time(s) since the last warning); each process "
                "limits the webhooks it receives until Redis answers again",
                type(exc).__name__,
                self._failures,
            )
            self._warned_at = now
            self._failures = 0

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def hook_limiter_for(redis_url: str | None) -> HookLimiter:
    """Shared through Redis when there is one, else kept by this process."""
    if redis_url:
        return RedisTokenBuckets(redis_url)
    return InProcessLimiter()
