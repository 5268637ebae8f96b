"""flowvault.lru.LRU: the bounded caches of the run path (graphs, webhook triggers, egress clients)."""

from __future__ import annotations

from flowvault.lru import LRU


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    assert cache.put("c", 3) == 3
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)
    cache.clear()
    assert cache.get("a") is None and len(cache) == 0
