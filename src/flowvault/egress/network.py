"""httpcore's network backend on asyncio's own transports and protocols.

httpcore's default backend on asyncio goes through anyio: a cancel scope and a timeout around every
read and write, stream wrappers, and typed-attribute lookups for each "is this idle connection still
usable?" check. That was ~8 % of the event loop's samples with every run making one outbound call.
Here the event loop reads the socket into a buffer as data arrives (pausing it beyond a high-water
mark); a read returns what is buffered, and only waits (with a timer) when nothing is; a write hands
the bytes to the transport and only waits while the transport asks writers to pause.

Errors are httpcore's (``ConnectError``, ``ConnectTimeout``, ``ReadError``, ``ReadTimeout``,
``WriteError``, ``WriteTimeout``), which httpx turns into its own, exactly as with the default backend.
TLS is the event loop's ``start_tls`` with the caller's context and server name. It works on any
asyncio event loop, uvloop's (``serve``'s) too.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from collections.abc import Awaitable, Iterable
from typing import Any, cast

import httpcore

READ_HIGH_WATER = 256 * 1024
"""Bytes buffered before the socket is no longer read (until a read takes them)."""

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class _Connection(asyncio.Protocol):
    """What the event loop delivers for one connection: the bytes not read yet, and whether it ended."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.ended = False
        self.error: BaseException | None = None
        self._reading = True
        self._waiting_reader: asyncio.Future[None] | None = None
        self._writing_paused: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self._reading and len(self.buffer) > READ_HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self._reading = False
        self._wake(self._waiting_reader)

    def eof_received(self) -> None:
        self.ended = True
        self._wake(self._waiting_reader)
        # Returning None closes the transport: an HTTP/1.1 client has nothing left to say once the server closed.

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = exc
        self._wake(self._waiting_reader)
        self._wake(self._writing_paused)

    def pause_writing(self) -> None:
        if self._writing_paused is None:
            self._writing_paused = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._wake(self._writing_paused)
        self._writing_paused = None

    @staticmethod
    def _wake(waiter: asyncio.Future[None] | None) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def take(self, max_bytes: int) -> bytes:
        data = bytes(self.buffer[:max_bytes])
        del self.buffer[:max_bytes]
        if not self._reading and len(self.buffer) <= READ_HIGH_WATER // 2 and self.transport is not None:
            self.transport.resume_reading()
            self._reading = True
        return data

    async def readable(self, timeout: float | None) -> None:
        waiter = self._waiting_reader = asyncio.get_running_loop().create_future()
        try:
            await _within(waiter, timeout, httpcore.ReadTimeout)
        finally:
            self._waiting_reader = None

    async def drained(self, timeout: float | None) -> None:
        if self._writing_paused is not None:
            await _within(self._writing_paused, timeout, httpcore.WriteTimeout)


async def _within(waiter: asyncio.Future[None], timeout: float | None, error: type[Exception]) -> None:
    """Waits for ``waiter``; ``error`` when ``timeout`` seconds pass first. One timer handle, no task."""
    if timeout is None:
        await waiter
        return
    timer = asyncio.get_running_loop().call_later(timeout, _expire, waiter, error)
    try:
        await waiter
    finally:
        timer.cancel()


def _expire(waiter: asyncio.Future[None], error: type[Exception]) -> None:
    if not waiter.done():
        waiter.set_exception(error("timed out"))


def _readable(sock: Any) -> bool:
    """Whether a read on the socket would not block: data or EOF waiting (or the socket is gone)."""
    if sock is None or sock.fileno() < 0:
        return True
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, connection: _Connection) -> None:
        self._transport = transport
        self._connection = connection

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        connection = self._connection
        if not connection.buffer and not connection.ended:
            await connection.readable(timeout)
        if connection.buffer:
            return connection.take(max_bytes)
        if connection.error is not None:
            raise httpcore.ReadError(str(connection.error) or type(connection.error).__name__)
        return b""  # the server closed the connection

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        await self._connection.drained(timeout)
        if self._connection.error is not None:
            raise httpcore.WriteError(str(self._connection.error) or type(self._connection.error).__name__)

    async def aclose(self) -> None:
        self._transport.close()
        await asyncio.sleep(0)  # the loop finishes the close it scheduled (the socket is closed then)
        self._transport.abort()  # a TLS connection does not wait for the server's close_notify

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._connection, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            self._transport.close()
            raise httpcore.ConnectTimeout("the TLS handshake timed out") from exc
        except (OSError, EOFError) as exc:  # ssl.SSLError (a failed certificate check too) is an OSError
            self._transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        if transport is None:  # the connection was closed during the handshake
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        self._connection.transport = transport
        return AsyncioStream(transport, self._connection)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        if info == "is_readable":  # asked of an idle connection before it is used again
            connection = self._connection
            return bool(connection.buffer) or connection.ended or _readable(self._transport.get_extra_info("socket"))
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local_addr = (local_address, 0) if local_address else None
        connecting = loop.create_connection(_Connection, host, port, local_addr=local_addr)
        return await _connected(connecting, f"{host}:{port}", timeout, socket_options)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SocketOption] | None = None
    ) -> httpcore.AsyncNetworkStream:
        connecting = asyncio.get_running_loop().create_unix_connection(_Connection, path)
        return await _connected(connecting, path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connected(
    connecting: Awaitable[tuple[asyncio.BaseTransport, _Connection]],
    target: str,
    timeout: float | None,
    options: Iterable[SocketOption] | None,
) -> AsyncioStream:
    """The stream of a connection being made, within ``timeout``, with httpcore's errors."""
    try:
        async with asyncio.timeout(timeout):
            transport, connection = await connecting
    except TimeoutError as exc:  # before OSError: TimeoutError is one
        raise httpcore.ConnectTimeout(f"connecting to {target} timed out") from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc)) from exc
    stream = AsyncioStream(cast(asyncio.Transport, transport), connection)
    sock: socket.socket = transport.get_extra_info("socket")
    for option in options or ():
        sock.setsockopt(*option)
    return stream
