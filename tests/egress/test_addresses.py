"""The address blocklist: a table of addresses, embedded IPv4 forms, and properties over ranges."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowvault.egress import classify_address

BLOCKED = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "metadata"),
    ("169.254.170.2", "metadata"),
    ("100.100.100.200", "metadata"),
    ("168.63.129.16", "metadata"),
    ("192.0.0.192", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("169.254.1.1", "link_local"),
    ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not a bind
    ("0.1.2.3", "this_network"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "metadata"),
    ("::ffff:10.1.2.3", "private"),
    ("fe80::1", "link_local"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fec0::1", "private"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("100.64.0.1", "shared"),
    ("100.127.255.254", "shared"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("2001:db8::1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("2002:7f00:1::1", "loopback"),  # 6to4 embedding 127.0.0.1
    ("2002:a00:1::", "private"),  # 6to4 embedding 10.0.0.1
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 embedding 127.0.0.1
    ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 embedding 169.254.169.254
    ("::7f00:1", "loopback"),  # IPv4-compatible ::127.0.0.1
    ("2001:0:4136:e378:8000:63bf:a247:27dd", "tunnel"),  # Teredo, public client: still not global
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "documentation"),  # Teredo whose client is 192.0.2.45
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo whose client is 127.0.0.1
]

ALLOWED = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "172.32.0.1",  # just past 172.16/12
    "100.128.0.1",  # just past 100.64/10
    "2606:4700::1",
    "2a00:1450:4001:80b::200e",
    "::ffff:93.184.216.34",  # IPv4-mapped public
    "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34 (DNS64 networks)
    "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
]


@pytest.mark.parametrize(("address", "category"), BLOCKED)
def test_blocked_addresses(address: str, category: str) -> None:
    found = classify_address(address)
    assert found is not None, address
    assert found.category == category


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert classify_address(address) is None


def test_embedded_address_is_named_in_the_description() -> None:
    found = classify_address("::ffff:127.0.0.1")
    assert found is not None
    assert found.description == "an IPv6 address embedding 127.0.0.1, a loopback address"


def test_zone_identifier_does_not_hide_the_address() -> None:
    found = classify_address("fe80::1%eth0")
    assert found is not None and found.category == "link_local"


def test_not_an_address() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        classify_address("example.com")


PRIVATE_V4 = [
    IPv4Network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "224.0.0.0/4",
        "0.0.0.0/8",
    )
]


@given(st.sampled_from(PRIVATE_V4), st.integers(min_value=0, max_value=2**32 - 1))
def test_every_address_in_a_private_range_is_blocked_in_every_form(network: IPv4Network, offset: int) -> None:
    address = network[offset % network.num_addresses]
    assert classify_address(address) is not None
    assert classify_address(IPv6Address(f"::ffff:{address}")) is not None  # mapped
    assert classify_address(IPv6Address(f"64:ff9b::{address}")) is not None  # NAT64
    assert classify_address(IPv6Address((0x2002 << 112) | (int(address) << 80))) is not None  # 6to4


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_mapped_form_gets_the_same_verdict_as_the_address(number: int) -> None:
    address = IPv4Address(number)
    mapped = IPv6Address(f"::ffff:{address}")
    assert (classify_address(address) is None) == (classify_address(mapped) is None)
