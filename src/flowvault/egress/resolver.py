"""Name resolution, passed in so tests (and operators) control DNS.

A resolver takes a host name and port and returns the IP addresses to try, in order. The guard
checks every address it returns and connects only to those: it never resolves a name twice for one
hop, so a DNS answer that changes between check and connect (rebinding) cannot take effect.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer (``getaddrinfo``), duplicates removed, order kept."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        address = sockaddr[0]
        if isinstance(address, str) and address not in addresses:
            addresses.append(address)
    return addresses
