"""Host normal form, numeric IPv4 spellings, allowlist patterns and policy construction."""

from __future__ import annotations

import pickle
from ipaddress import IPv4Address

import pytest

from flowvault.egress import EgressBlocked, EgressPolicy, host_matches, normalize_host, normalize_pattern
from flowvault.egress.hosts import legacy_ipv4
from flowvault.egress.policy import parse_host_list


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("API.Example.COM", "api.example.com"),
        ("api.example.com.", "api.example.com"),
        ("Bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("[::1]", "::1"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("127.0.0.2", "127.0.0.2"),
        ("_dmarc.example", "_dmarc.example"),
    ],
)
def test_normalize_host(host: str, expected: str) -> None:
    assert normalize_host(host) == expected


@pytest.mark.parametrize(
    "host", ["exa mple.com", "a..b", "127%2e0%2e0%2e1", "a/b", "2130706433", "0x7f.1", "fe80::1%eth0", ""]
)
def test_normalize_host_refuses(host: str) -> None:
    with pytest.raises(ValueError):
        normalize_host(host)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7F.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),  # noqa: S104 - an address under test, not a bind
        ("10.0.0.1.", "10.0.0.1"),
        ("0x5db8d822", "93.184.216.34"),
        ("1.2.3.4", "1.2.3.4"),
    ],
)
def test_legacy_ipv4_uses_inet_aton_rules(host: str, expected: str) -> None:
    assert legacy_ipv4(host) == IPv4Address(expected)


@pytest.mark.parametrize("host", ["example.com", "api.example", "0x7g", "1.2.3.example"])
def test_names_are_not_numbers(host: str) -> None:
    assert legacy_ipv4(host) is None


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.0.0.1", "08.0.0.1", "1.2.3.0x100", "4294967296", "a.1"])
def test_invalid_numeric_hosts(host: str) -> None:
    with pytest.raises(ValueError):
        legacy_ipv4(host)


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("api.example.com", "api.example.com", True),
        ("API.Example.com.", "api.example.com", True),
        ("api.example.com", "www.api.example.com", False),
        ("example.com", "api.example.com", False),
        ("*.example.com", "api.example.com", True),
        ("*.example.com", "a.b.example.com", True),
        ("*.example.com", "example.com", False),  # subdomains only: list example.com too
        ("*.example.com", "badexample.com", False),
        ("*.example.com", "example.com.evil.net", False),
        ("*.Bücher.example", "shop.xn--bcher-kva.example", True),
        ("127.0.0.2", "127.0.0.2", True),
        ("[::1]", "::1", True),
    ],
)
def test_pattern_matching(pattern: str, host: str, matches: bool) -> None:
    assert host_matches(normalize_host(host), [normalize_pattern(pattern)]) is matches


@pytest.mark.parametrize("pattern", ["*", "*example.com", "api.*.example.com", "*.127.0.0.1", "https://x.com/"])
def test_bad_patterns(pattern: str) -> None:
    with pytest.raises(ValueError):
        normalize_pattern(pattern)


def test_policy_normalises_once() -> None:
    policy = EgressPolicy(allowed_hosts=("API.Example.com", "*.Bücher.example"), exempt_private=frozenset({"[::1]"}))
    assert policy.allowed_hosts == ("api.example.com", "*.xn--bcher-kva.example")
    assert policy.exempt_private == frozenset({"::1"})
    with pytest.raises(ValueError):
        EgressPolicy(allowed_hosts=("not a host",))
    with pytest.raises(ValueError):
        EgressPolicy(max_redirects=-1)


def test_parse_host_list() -> None:
    assert parse_host_list(" fake-slack , 127.0.0.2 Localhost,") == frozenset({"fake-slack", "127.0.0.2", "localhost"})
    assert parse_host_list("") == frozenset()


def test_blocked_error_pickles() -> None:
    error = EgressBlocked("nope", kind="allowlist", host="x.example", url="http://x.example/")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert (copy.reason, copy.kind, copy.host, copy.url) == ("nope", "allowlist", "x.example", "http://x.example/")
    assert str(copy) == "nope"
