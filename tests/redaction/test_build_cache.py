"""A run's redactor is built once and reused for the same inputs, for a bounded time and number."""

from __future__ import annotations

from flowvault.redaction import Redactor
from flowvault.redaction.cache import BuildCache
from flowvault.redaction.redactor import CACHED_MAX_INPUTS


def test_the_same_inputs_give_the_same_redactor_and_another_value_a_new_one() -> None:
    first = Redactor.build([("api", "first-token-value")])
    assert Redactor.build([("api", "first-token-value")]) is first
    rotated = Redactor.build([("api", "second-token-value")])
    assert rotated is not first
    assert rotated.redact("second-token-value first-token-value") == "[REDACTED:api] first-token-value"


def test_order_names_and_extras_are_part_of_the_key() -> None:
    pairs = [("a", "value-of-secret-a"), ("b", "value-of-secret-b")]
    assert Redactor.build(pairs) is not Redactor.build(list(reversed(pairs)))
    assert Redactor.build([("x", "value-of-secret-a")]) is not Redactor.build([("y", "value-of-secret-a")])
    assert Redactor.build(pairs) is not Redactor.build(pairs, [("a", "literal-extra-1")])


def test_many_inputs_are_built_every_time() -> None:
    pairs = [(f"s{i}", f"value-number-{i:04d}") for i in range(CACHED_MAX_INPUTS + 1)]
    assert Redactor.build(pairs) is not Redactor.build(pairs)


def test_entries_expire_and_the_oldest_go_first() -> None:
    now = [0.0]
    cache: BuildCache[object] = BuildCache(ttl=10, max_entries=2, clock=lambda: now[0])
    keys = [cache.key([(str(i), "v")]) for i in range(3)]
    built = [cache.get_or_build(key, object) for key in keys[:2]]
    assert cache.get_or_build(keys[0], object) is built[0]
    cache.get_or_build(keys[2], object)  # evicts keys[1], the least recently used
    assert len(cache) == 2 and cache.get_or_build(keys[1], object) is not built[1]
    now[0] = 11.0
    assert cache.get_or_build(keys[0], object) is not built[0]


def test_keys_are_unambiguous() -> None:
    key = BuildCache.key
    assert key([("ab", "c")]) != key([("a", "bc")])
    assert key([("a", "b")], []) != key([], [("a", "b")])
    assert key([("a", "b"), ("c", "d")]) != key([("a", "b")], [("c", "d")])
    assert key([("a", "b")]) == key([("a", "b")])
