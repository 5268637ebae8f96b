"""Which IP addresses a workflow may connect to.

``classify_address`` returns ``None`` for an ordinary public address and an ``AddressClass`` naming
why any other address is refused. Explicit networks are checked first, so the label is the most
specific one (169.254.169.254 is "cloud metadata", not just "link-local"); the ``ipaddress``
properties and ``is_global`` then catch whatever the table does not name.

IPv6 forms that carry an IPv4 address are judged by that address too: IPv4-mapped
(``::ffff:127.0.0.1``) and NAT64 (``64:ff9b::/96``) are judged only by the embedded address (a
DNS64 resolver hands out NAT64 addresses for ordinary public hosts); IPv4-compatible (``::/96``),
6to4 (``2002::/16``) and Teredo (``2001::/32``) are refused when the embedded address is, and are
otherwise judged as IPv6 (Teredo and ``::/96`` are not global addresses, so they are refused too).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

IPAddress = IPv4Address | IPv6Address

_DESCRIPTIONS = {
    "metadata": "a cloud metadata address",
    "unspecified": "an unspecified address",
    "this_network": "a 'this network' address",
    "loopback": "a loopback address",
    "private": "a private network address",
    "link_local": "a link-local address",
    "shared": "a carrier-grade NAT (shared) address",
    "multicast": "a multicast address",
    "broadcast": "the broadcast address",
    "documentation": "a documentation address",
    "benchmarking": "a benchmarking address",
    "tunnel": "a Teredo tunnel address",
    "reserved": "a reserved address",
    "non_public": "not a public internet address",
}

# Ordered: the first match names the address.
_NETWORKS: tuple[tuple[str, tuple[IPv4Network | IPv6Network, ...]], ...] = tuple(
    (category, tuple(ip_network(net) for net in nets))
    for category, nets in (
        (
            "metadata",
            (
                "169.254.169.254/32",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
                "169.254.170.2/32",  # AWS ECS task metadata
                "100.100.100.200/32",  # Alibaba Cloud
                "192.0.0.192/32",  # Oracle Cloud (classic)
                "168.63.129.16/32",  # Azure WireServer (a public address, reachable only from Azure)
                "fd00:ec2::254/128",  # AWS IMDS over IPv6
            ),
        ),
        ("unspecified", ("0.0.0.0/32", "::/128")),
        ("this_network", ("0.0.0.0/8",)),
        ("loopback", ("127.0.0.0/8", "::1/128")),
        ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fec0::/10")),
        ("link_local", ("169.254.0.0/16", "fe80::/10")),
        ("shared", ("100.64.0.0/10",)),
        ("multicast", ("224.0.0.0/4", "ff00::/8")),
        ("broadcast", ("255.255.255.255/32",)),
        (
            "documentation",
            ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20"),
        ),
        ("benchmarking", ("198.18.0.0/15", "2001:2::/48")),
        ("tunnel", ("2001::/32",)),
        ("reserved", ("240.0.0.0/4", "192.0.0.0/24", "64:ff9b:1::/48", "100::/64")),
    )
)

_NAT64 = IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = IPv6Network("::/96")


@dataclass(frozen=True)
class AddressClass:
    """Why an address is refused: ``category`` is a stable key, ``description`` a phrase for messages."""

    category: str
    description: str


def parse_address(value: str) -> IPAddress | None:
    """The address ``value`` spells in standard form (IPv6 with or without brackets), else ``None``."""
    text = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        return ip_address(text)
    except ValueError:
        return None


def classify_address(address: IPAddress | str) -> AddressClass | None:
    """``None`` if ``address`` is a public internet address a workflow may reach, else why not."""
    if isinstance(address, str):
        parsed = parse_address(address)
        if parsed is None:
            raise ValueError(f"{address!r} is not an IP address")
        address = parsed
    if isinstance(address, IPv6Address):
        if address.scope_id is not None:
            address = IPv6Address(int(address))
        for embedded, decisive in _embedded_ipv4(address):
            found = classify_address(embedded)
            if found is not None:
                return AddressClass(found.category, f"an IPv6 address embedding {embedded}, {found.description}")
            if decisive:
                return None
    for category, networks in _NETWORKS:
        if any(address.version == net.version and address in net for net in networks):
            return _class(category)
    return _by_properties(address)


def _embedded_ipv4(address: IPv6Address) -> list[tuple[IPv4Address, bool]]:
    """IPv4 addresses carried inside ``address``, each with whether it alone decides the verdict."""
    if address.ipv4_mapped is not None:
        return [(address.ipv4_mapped, True)]
    if address in _NAT64:
        return [(IPv4Address(int(address) & 0xFFFFFFFF), True)]
    if address.sixtofour is not None:
        return [(address.sixtofour, False)]
    if address.teredo is not None:
        server, client = address.teredo
        return [(server, False), (client, False)]
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return [(IPv4Address(int(address)), False)]
    return []


def _by_properties(address: IPAddress) -> AddressClass | None:
    if address.is_unspecified:
        return _class("unspecified")
    if address.is_loopback:
        return _class("loopback")
    if address.is_link_local:
        return _class("link_local")
    if address.is_multicast:
        return _class("multicast")
    if address.is_private:
        return _class("private")
    if address.is_reserved:
        return _class("reserved")
    if isinstance(address, IPv6Address) and address.is_site_local:
        return _class("private")
    if not address.is_global:
        return _class("non_public")
    return None


def _class(category: str) -> AddressClass:
    return AddressClass(category, _DESCRIPTIONS[category])
