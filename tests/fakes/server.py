"""The shared runner for fake external services.

A ``FakeServer`` is a Starlette app served by uvicorn on a background thread, bound to a loopback
address (``127.0.0.2`` by default: the product refuses ``127.0.0.1`` and only the operator
exemption lets ``127.0.0.2`` through, so tests exercise the real egress guard). Every request that
reaches it -- matched route or not -- is recorded before the route runs, so a test can assert which
credential arrived here and, with ``saw()``, that a secret never reached some other fake.

    with FakeEcho() as echo:                    # start() on enter, stop() on exit
        httpx.get(f"{echo.url}/echo", headers={"Authorization": "Bearer t"})
        assert echo.requests[0].headers["authorization"] == "Bearer t"

Subclasses provide ``routes()`` and may extend ``reset()`` to clear their own records and restore
the configuration they were built with.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote_to_bytes

import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Message, Receive, Scope, Send

DEFAULT_HOST = "127.0.0.2"
STARTUP_TIMEOUT = 5.0


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it. ``headers`` has lower-case names; repeated headers are
    joined with ", " there and kept apart in ``raw_headers``. ``json`` is the parsed body, or None
    when the body is empty or not JSON."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    raw_headers: tuple[tuple[str, str], ...]
    body: bytes
    json: Any

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def contains(self, needle: str | bytes) -> bool:
        """True when ``needle`` occurs verbatim in the path, query (raw or percent-decoded), any
        header name or value, or the body. Derived forms (base64, hex...) are not searched."""
        raw = needle.encode() if isinstance(needle, str) else needle
        haystacks = [self.path.encode(), self.query.encode(), unquote_to_bytes(self.query.replace("+", " ")), self.body]
        haystacks += [f"{name}: {value}".encode("latin-1", "replace") for name, value in self.raw_headers]
        return any(raw in haystack for haystack in haystacks)


@dataclass(frozen=True)
class CannedResponse:
    status: int
    body: bytes
    headers: dict[str, str]
    path: str | None


def join_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header pairs as a dict keyed by lower-case name; a repeated header's values joined with ", "."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        name = name.lower()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def parse_json(body: bytes) -> Any:
    """The JSON value in ``body``; None when it is empty or not JSON."""
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


class _ThreadServer(uvicorn.Server):
    """A uvicorn server that never touches signal handlers (it runs off the main thread)."""

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        return None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:  # uvicorn >= 0.29
        yield


class FakeServer:
    """Base class: runs ``routes()`` on ``host`` and a free port (or ``port``), recording requests."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._canned: deque[CannedResponse] = deque()
        self._server: _ThreadServer | None = None
        self._thread: threading.Thread | None = None
        self._app = Starlette(routes=self.routes())

    # -- what subclasses provide -------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def reset(self) -> None:
        """Forgets every recorded request and queued failure. Subclasses extend this to clear their
        own records and restore the configuration they were constructed with."""
        with self._lock:
            self._requests.clear()
            self._canned.clear()

    # -- addresses -----------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return self._port

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.2:41769``."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- what was received ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot (a new list each time) of every request received, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path and (method is None or r.method == method.upper())]

    def requests_containing(self, needle: str | bytes) -> list[RecordedRequest]:
        return [r for r in self.requests if r.contains(needle)]

    def saw(self, needle: str | bytes) -> bool:
        """True when any recorded request carried ``needle`` verbatim (see RecordedRequest.contains)."""
        return bool(self.requests_containing(needle))

    # -- injected failures ---------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        path: str | None = None,
    ) -> None:
        """Answers the next ``times`` requests (to ``path`` only, if given) with ``status`` instead of
        running the route. ``body`` is sent as JSON unless it is bytes or str. Requests are still
        recorded. Use it for 5xx and other errors that have no natural trigger."""
        if isinstance(body, bytes):
            payload = body
            content_type = "application/octet-stream"
        elif isinstance(body, str):
            payload = body.encode()
            content_type = "text/plain; charset=utf-8"
        else:
            payload = b"" if body is None else json.dumps(body).encode()
            content_type = "application/json"
        merged = {"content-type": content_type} if payload else {}
        merged.update({k.lower(): v for k, v in (headers or {}).items()})
        with self._lock:
            self._canned.extend(CannedResponse(status, payload, merged, path) for _ in range(times))

    def _take_canned(self, path: str) -> CannedResponse | None:
        with self._lock:
            for canned in self._canned:
                if canned.path is None or canned.path == path:
                    self._canned.remove(canned)
                    return canned
        return None

    # -- the ASGI entry point ------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        raw_headers = tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"])
        headers = join_headers(raw_headers)
        recorded = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers=headers,
            raw_headers=raw_headers,
            body=body,
            json=parse_json(body),
        )
        with self._lock:
            self._requests.append(recorded)

        canned = self._take_canned(recorded.path)
        if canned is not None:
            await Response(canned.body, status_code=canned.status, headers=canned.headers)(scope, receive, send)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self._app(scope, replay, send)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        """Binds the socket, starts uvicorn on a daemon thread and returns once it accepts
        connections (typically in a few milliseconds)."""
        if self.running:
            return self
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
        # TCP, and without it Nagle + delayed ACK add ~40 ms to every keep-alive response.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._requested_port))
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self,
            host=self._host,
            port=self._port,
            loop="asyncio",
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,  # never reconfigure the test process's logging
            access_log=False,  # an access log would copy query strings (and secrets in them) into caplog
            timeout_graceful_shutdown=1,
        )
        server = _ThreadServer(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"{type(self).__name__}:{self._port}", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(STARTUP_TIMEOUT)
                sock.close()
                raise RuntimeError(f"{type(self).__name__} did not start on {self._host}:{self._port}")
            time.sleep(0.001)
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stops accepting connections and joins the thread (about 0.1-0.2 s: uvicorn's own tick)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "not started"
        return f"<{type(self).__name__} {where} requests={len(self.requests)}>"


def bearer_token(authorization: str | None) -> str | None:
    """The credential from an ``Authorization: Bearer <token>`` header; None when absent or another scheme."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
