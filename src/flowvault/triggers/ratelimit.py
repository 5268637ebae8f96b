"""Token buckets, one per key (a workflow id). Pure; the clock is passed in.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; each request takes
one. The buckets live in this process: with several web processes each enforces the limit on the
requests it receives. The number of buckets is bounded (least recently used are dropped, which only
ever lets a dropped key start full again)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


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
