"""Egress guard: the HTTP client every node uses for outbound requests (SPEC §6).

    GuardedClient        request() / stream(): checks every hop, pins the connection, follows redirects
    EgressClients        the clients a process shares: one per policy over one transport
    EgressPolicy         allowlist (host or *.domain), operator's private-host exemptions, redirect limit
    EgressBlocked        raised (and passed to on_blocked) when a hop is refused; .kind, .reason, .host, .url
    classify_address     why an IP address is not public (loopback, private, metadata, ...), or None
    PinnedTransport      default transport: IP-only connections, one pool per TLS server name
    system_resolver      default Resolver (getaddrinfo); pass your own to control DNS

Layout: addresses (IP blocklist) · hosts (host normal form, numeric IPv4 forms, patterns) · policy ·
resolver · guard (the per-hop check) · transport · client (redirects, headers, pinning) · errors.
This package imports neither FastAPI nor SQLAlchemy.
"""

from flowvault.egress.addresses import AddressClass, classify_address
from flowvault.egress.client import GuardedClient
from flowvault.egress.clients import EgressClients
from flowvault.egress.errors import BlockKind, EgressBlocked
from flowvault.egress.guard import Destination, check_url
from flowvault.egress.hosts import host_matches, normalize_host, normalize_pattern
from flowvault.egress.policy import EgressPolicy, parse_host_list
from flowvault.egress.resolver import Resolver, system_resolver
from flowvault.egress.transport import PinnedTransport

__all__ = [
    "AddressClass",
    "BlockKind",
    "Destination",
    "EgressBlocked",
    "EgressClients",
    "EgressPolicy",
    "GuardedClient",
    "PinnedTransport",
    "Resolver",
    "check_url",
    "classify_address",
    "host_matches",
    "normalize_host",
    "normalize_pattern",
    "parse_host_list",
    "system_resolver",
]
