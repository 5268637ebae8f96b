"""Real connections, loopback only: a server on 127.0.0.2 reached through an operator exemption,
and a TLS server proving the certificate is checked against the host name, not the pinned IP."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from flowvault.egress import EgressBlocked, EgressPolicy, GuardedClient, PinnedTransport, Resolver, system_resolver
from tests.egress.conftest import Pki

SERVER_IP = "127.0.0.2"
TIMEOUT = 5.0


@dataclass
class Seen:
    method: str
    path: str
    host: str
    peer_port: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        super().__init__((SERVER_IP, 0), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.seen: list[Seen] = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable
    server: _Server

    def do_GET(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.seen.append(Seen(self.command, self.path, self.headers["Host"], self.client_address[1]))
        body = f"hello from {SERVER_IP}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Running:
    port: int
    seen: list[Seen] = field(default_factory=list)


def _serve(tls: ssl.SSLContext | None) -> Iterator[Running]:
    server = _Server(tls)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Running(port=server.server_address[1], seen=server.seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http_server() -> Iterator[Running]:
    yield from _serve(None)


@pytest.fixture
def https_server(pki: Pki) -> Iterator[Running]:
    yield from _serve(pki.server)


def names_to(ip: str, *names: str) -> Resolver:
    """A resolver sending ``names`` to ``ip`` and everything else to the system resolver."""

    async def resolve(host: str, port: int) -> list[str]:
        return [ip] if host in names else await system_resolver(host, port)

    return resolve


@pytest.mark.asyncio
async def test_exempted_private_host_is_reached_while_others_stay_blocked(http_server: Running) -> None:
    blocked: list[EgressBlocked] = []
    policy = EgressPolicy(
        allowed_hosts=(SERVER_IP, "127.0.0.1", "localhost", "::1", "fake-service.test"),
        exempt_private=frozenset({SERVER_IP}),
    )
    port = http_server.port
    async with GuardedClient(
        policy,
        resolver=names_to(SERVER_IP, "fake-service.test"),
        on_blocked=blocked.append,
    ) as client:
        response = await client.request("GET", f"http://{SERVER_IP}:{port}/hello", timeout=TIMEOUT)
        assert (response.status_code, response.text) == (200, "hello from 127.0.0.2")

        # A name resolving to the exempted address is exempt too (how tests reach local fakes).
        response = await client.request("GET", f"http://fake-service.test:{port}/by-name", timeout=TIMEOUT)
        assert response.status_code == 200
        assert response.url == httpx.URL(f"http://fake-service.test:{port}/by-name")

        for url in (f"http://127.0.0.1:{port}/", f"http://localhost:{port}/", f"http://[::1]:{port}/"):
            with pytest.raises(EgressBlocked) as caught:
                await client.request("GET", url, timeout=TIMEOUT)
            assert caught.value.kind == "private_address"
            assert "loopback" in caught.value.reason

    assert [(s.path, s.host) for s in http_server.seen] == [
        ("/hello", f"{SERVER_IP}:{port}"),
        ("/by-name", f"fake-service.test:{port}"),
    ]
    assert [b.kind for b in blocked] == ["private_address"] * 3
    assert blocked[1].host == "localhost"


@pytest.mark.asyncio
async def test_tls_is_verified_against_the_host_name_with_one_pool_per_name(https_server: Running, pki: Pki) -> None:
    policy = EgressPolicy(allowed_hosts=("fake.test", "other.test"), exempt_private=frozenset({SERVER_IP}))
    resolver = names_to(SERVER_IP, "fake.test", "other.test")
    port = https_server.port
    async with GuardedClient(
        policy,
        resolver=resolver,
        transport=PinnedTransport(verify=pki.client),
    ) as client:
        first = await client.request("GET", f"https://fake.test:{port}/one", timeout=TIMEOUT)
        second = await client.request("GET", f"https://fake.test:{port}/two", timeout=TIMEOUT)
        assert (first.status_code, second.status_code) == (200, 200)
        # Connected to 127.0.0.2, yet the certificate for fake.test was accepted: SNI and the
        # hostname check used the name. The second request reused the first connection.
        assert [s.host for s in https_server.seen] == [f"fake.test:{port}"] * 2
        assert https_server.seen[0].peer_port == https_server.seen[1].peer_port

        # other.test resolves to the same address, but the live connection verified for fake.test
        # is not reused: a fresh handshake checks other.test against the certificate and fails.
        with pytest.raises(httpx.ConnectError, match="certificate"):
            await client.request("GET", f"https://other.test:{port}/three", timeout=TIMEOUT)
    assert len(https_server.seen) == 2


@pytest.mark.asyncio
async def test_pinned_transport_never_resolves_names() -> None:
    transport = PinnedTransport()
    with pytest.raises(httpx.ConnectError, match="only checked IP addresses"):
        await transport.handle_async_request(httpx.Request("GET", "http://localhost/"))
    await transport.aclose()
