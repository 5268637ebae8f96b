"""The asyncio network backend under real loopback connections: reads, writes and their flow control,
timeouts, refused and closed connections, and reuse of idle connections. Each test runs on asyncio's
own event loop and on uvloop's (the one ``serve`` runs on)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import httpcore
import httpx
import pytest
import uvloop

from flowvault.egress import PinnedTransport
from flowvault.egress.network import READ_HIGH_WATER, AsyncioBackend
from tests.egress.conftest import Pki

Runner = Callable[[Coroutine[Any, Any, None]], None]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Runner:
    """Runs a test's coroutine on a new event loop of the kind."""
    return uvloop.run if request.param == "uvloop" else asyncio.run


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[tuple[int, list[int]]]:
    """A server on 127.0.0.1; yields its port and the client ports of the connections it accepted."""
    peers: list[int] = []
    tasks: set[asyncio.Task[None]] = set()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[1])
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1], peers
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    return await reader.readexactly(length)


def answer(body: bytes, *, close: bool = False) -> bytes:
    connection = b"Connection: close\r\n" if close else b""
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%b\r\n%b" % (len(body), connection, body)


def client(ssl_context: ssl.SSLContext | None = None) -> httpcore.AsyncConnectionPool:
    return httpcore.AsyncConnectionPool(ssl_context=ssl_context, network_backend=AsyncioBackend())


def timeouts(seconds: float) -> dict[str, dict[str, float]]:
    return {"timeout": {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}}


def test_a_response_larger_than_the_read_buffer_arrives_whole_and_waits_for_the_reader(run: Runner) -> None:
    run(_a_response_larger_than_the_read_buffer_arrives_whole_and_waits_for_the_reader())


async def _a_response_larger_than_the_read_buffer_arrives_whole_and_waits_for_the_reader() -> None:
    """While nothing reads the body, the socket stops being read beyond the high-water mark, so the
    server cannot finish sending before the reader starts: the response is not held in memory whole."""
    body = bytes(range(256)) * (64 * READ_HIGH_WATER // 256 + 7)  # ~16 MB, more than the kernel buffers
    sent: list[float] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(body))
        await writer.drain()
        sent.append(asyncio.get_running_loop().time())

    async with serving(handler) as (port, _), client() as pool:
        url = f"http://127.0.0.1:{port}/big"
        async with pool.stream("GET", url, extensions=timeouts(5)) as response:
            await asyncio.sleep(0.3)  # the body arrives meanwhile, beyond the high-water mark
            reading = asyncio.get_running_loop().time()
            received = b"".join([chunk async for chunk in response.aiter_stream()])
    assert response.status == 200
    assert received == body
    assert sent and sent[0] > reading


def test_a_request_body_larger_than_the_socket_buffers_is_sent_whole(run: Runner) -> None:
    run(_a_request_body_larger_than_the_socket_buffers_is_sent_whole())


async def _a_request_body_larger_than_the_socket_buffers_is_sent_whole() -> None:
    body = b"flowvault-upload-" * 600_000  # ~10 MB: the transport asks writers to pause and resume
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await read_request(reader))
        writer.write(answer(b"ok"))
        await writer.drain()

    async with serving(handler) as (port, _), client() as pool:
        response = await pool.request("POST", f"http://127.0.0.1:{port}/up", content=body, extensions=timeouts(10))
    assert (response.status, response.content) == (200, b"ok")
    assert received == [body]


def test_a_server_that_never_answers_is_a_read_timeout(run: Runner) -> None:
    run(_a_server_that_never_answers_is_a_read_timeout())


async def _a_server_that_never_answers_is_a_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(30)

    async with serving(handler) as (port, _), client() as pool:
        started = asyncio.get_running_loop().time()
        with pytest.raises(httpcore.ReadTimeout):
            await pool.request("GET", f"http://127.0.0.1:{port}/", extensions=timeouts(0.3))
        assert asyncio.get_running_loop().time() - started < 5


def test_a_server_that_never_reads_is_a_write_timeout(run: Runner) -> None:
    run(_a_server_that_never_reads_is_a_write_timeout())


async def _a_server_that_never_reads_is_a_write_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async with serving(handler) as (port, _), client() as pool:
        with pytest.raises(httpcore.WriteTimeout):
            await pool.request("POST", f"http://127.0.0.1:{port}/", content=b"x" * 50_000_000, extensions=timeouts(0.5))


def test_a_refused_connection_is_a_connect_error(run: Runner) -> None:
    run(_a_refused_connection_is_a_connect_error())


async def _a_refused_connection_is_a_connect_error() -> None:
    async with serving(read_request) as (port, _):
        pass  # closed: nothing listens on the port any more
    async with client() as pool:
        with pytest.raises(httpcore.ConnectError):
            await pool.request("GET", f"http://127.0.0.1:{port}/", extensions=timeouts(2))


def test_a_connection_closed_mid_response_is_an_error_not_a_short_body(run: Runner) -> None:
    run(_a_connection_closed_mid_response_is_an_error_not_a_short_body())


async def _a_connection_closed_mid_response_is_an_error_not_a_short_body() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()

    async with serving(handler) as (port, _), client() as pool:
        with pytest.raises(httpcore.RemoteProtocolError):
            await pool.request("GET", f"http://127.0.0.1:{port}/", extensions=timeouts(2))


def test_idle_connections_are_reused_and_one_the_server_closed_is_replaced(run: Runner) -> None:
    run(_idle_connections_are_reused_and_one_the_server_closed_is_replaced())


async def _idle_connections_are_reused_and_one_the_server_closed_is_replaced() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            body = await read_request(reader)
            writer.write(answer(b"done"))
            await writer.drain()
            if body == b"last":
                return  # closes the connection after answering, without saying so

    async with serving(handler) as (port, peers), client() as pool:
        url = f"http://127.0.0.1:{port}/"
        for content in (b"one", b"two", b"last"):
            assert (await pool.request("POST", url, content=content, extensions=timeouts(2))).content == b"done"
        assert len(set(peers)) == 1  # one connection for all three
        await asyncio.sleep(0.1)  # the server's close arrives while the connection is idle
        assert (await pool.request("POST", url, content=b"again", extensions=timeouts(2))).content == b"done"
    assert len(set(peers)) == 2


def test_a_canceled_request_leaves_the_pool_usable(run: Runner) -> None:
    run(_a_canceled_request_leaves_the_pool_usable())


async def _a_canceled_request_leaves_the_pool_usable() -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            body = await read_request(reader)
            if body == b"slow":
                await release.wait()
            writer.write(answer(b"answer to " + body))
            await writer.drain()

    async with serving(handler) as (port, _), client() as pool:
        url = f"http://127.0.0.1:{port}/"
        slow = asyncio.create_task(pool.request("POST", url, content=b"slow", extensions=timeouts(5)))
        await asyncio.sleep(0.1)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        release.set()
        response = await pool.request("POST", url, content=b"fast", extensions=timeouts(5))
    assert response.content == b"answer to fast"


def test_the_pinned_transport_connects_through_the_asyncio_backend(run: Runner) -> None:
    run(_the_pinned_transport_connects_through_the_asyncio_backend())


async def _the_pinned_transport_connects_through_the_asyncio_backend() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(b"pinned"))
        await writer.drain()

    async with serving(handler) as (port, _), PinnedTransport() as transport:
        request = httpx.Request("GET", f"http://127.0.0.1:{port}/")
        response = await transport.handle_async_request(request)
        await response.aread()
        assert response.content == b"pinned"
        pools = list(transport._pools.values())
        assert [type(pool._pool._network_backend) for pool in pools] == [AsyncioBackend]


def test_tls_checks_the_certificate_against_the_server_name(run: Runner, pki: Pki) -> None:
    run(_tls_checks_the_certificate_against_the_server_name(pki))


async def _tls_checks_the_certificate_against_the_server_name(pki: Pki) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            body = await read_request(reader)
            writer.write(answer(b"tls " + body))
            await writer.drain()

    async with serving(handler, tls=pki.server) as (port, peers), client(ssl_context=pki.client) as pool:
        url = f"https://127.0.0.1:{port}/"
        named = {**timeouts(5), "sni_hostname": "fake.test"}  # the certificate is for fake.test only
        for body in (b"one", b"two"):
            assert (await pool.request("POST", url, content=body, extensions=named)).content == b"tls " + body
        assert len(set(peers)) == 1
        async with client(ssl_context=pki.client) as fresh:  # a pool reuses by address; PinnedTransport's by name
            with pytest.raises(httpcore.ConnectError, match="certificate"):
                await fresh.request("POST", url, content=b"x", extensions={**timeouts(5), "sni_hostname": "other.test"})
