"""At most one wake-up waiting for the Celery workers (SPEC §8).

A wake-up says only "work is available", and the worker that takes one claims runs until none is
claimable. So one waiting wake-up announces every run queued before a worker takes it, and a wake-up
per queued run only makes the workers' parents pass on messages and their children claim nothing.

A flag in Redis (beside the broker's queue) says a wake-up has been sent that no worker has taken yet:
- a sender sets it with SET NX and sends a wake-up only if it set it (``send_wakeup``);
- a worker clears it when it takes a wake-up, before it claims (``clear``).

Why no run is left behind: a run is committed before anyone asks for a wake-up. If the flag was set
when asked, the wake-up that set it is taken later, its flag cleared and then its claims made, all
after that commit: they see the run. A wake-up that did not set the flag (the periodic tick, a
redelivery) clears it all the same when taken, while the one that set it still waits: that only sends
one wake-up more, never one fewer. A flag whose
wake-up never went out (its sender died between the two steps, the queue was purged) expires after
``expire_seconds``; the workers' periodic wake-ups find the runs meanwhile.
"""

from __future__ import annotations

import redis

PENDING_KEY = "flowvault:wakeup-pending"


class PendingWakeup:
    """The flag "a wake-up is on its way to the workers", in the Redis at ``redis_url``."""

    def __init__(self, redis_url: str, *, expire_seconds: float) -> None:
        self._redis = redis.Redis.from_url(redis_url)
        self._expire_ms = max(1, round(expire_seconds * 1000))

    def reserve(self) -> bool:
        """Sets the flag if it was clear: True means the caller sends the wake-up (or calls ``clear``
        if it cannot); False means one is already on its way."""
        return bool(self._redis.set(PENDING_KEY, b"1", nx=True, px=self._expire_ms))

    def clear(self) -> None:
        """A worker took a wake-up (before claiming), or a reserved one could not be sent: a run queued
        from now on sends a new one."""
        self._redis.delete(PENDING_KEY)

    def close(self) -> None:
        self._redis.close()
