"""A generic HTTP API for the HTTP Request node's tests.

Routes (all record the request first, like every fake):

- ``ANY /echo`` -> 200 ``{"method", "path", "query" (raw string), "args" (dict; repeated keys give
  lists), "headers" (lower-case names), "body" (text), "json" (parsed body or null)}``: everything it
  received, the Authorization header included, so a test can prove the redactor removes it.
- ``GET /echo/b64`` -> ``{"token_b64": standard base64 of the bearer token}``;
  ``GET /echo/urlenc`` -> ``{"q": percent-encoded token}``; ``GET /echo/hex`` -> ``{"token_hex": ...}``.
  The token is the part after ``Bearer `` (or the whole Authorization value for other schemes);
  no Authorization header -> 400.
- ``GET /stream?chunk=N[&delay_ms=D]`` -> ``text/plain`` streamed body: the Authorization header
  value cut into N-byte chunks, each sent as its own chunk, D ms apart (default 0, at most 1000).
- ``ANY /status/{code}`` -> that status (200-599) with ``{"error": "..."}`` (no body for 204/304);
  ``?retry_after=S`` adds a ``Retry-After`` header.
- ``GET /redirect?to=<url>&code=302`` -> redirect (301, 302, 303, 307 or 308) to ``to``.
- ``ANY /slow?ms=N`` -> sleeps N ms (capped at ``slow_cap_ms``, 5000) then 200 ``{"slept_ms": N}``.
- ``GET /text`` -> ``text/plain`` body (``?body=`` overrides it); ``POST /json`` -> the parsed JSON
  body back (400 when it is not JSON).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from tests.fakes.server import DEFAULT_HOST, FakeServer, join_headers, parse_json

ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
SLOW_CAP_MS = 5000
STREAM_DELAY_CAP_MS = 1000
TEXT_BODY = "Hello from FakeEcho.\n"


class _BadRequest(Exception):
    pass


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


def _int_param(request: Request, name: str, default: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        if default is None:
            raise _BadRequest(f"query parameter {name!r} is required")
        return default
    try:
        return int(raw)
    except ValueError:
        raise _BadRequest(f"query parameter {name!r} must be an integer") from None


def _token(request: Request) -> str:
    authorization = request.headers.get("authorization")
    if authorization is None:
        raise _BadRequest("no Authorization header")
    scheme, _, rest = authorization.partition(" ")
    return rest.strip() if scheme.lower() == "bearer" else authorization


class FakeEcho(FakeServer):
    """Driven by the request; inspect ``requests`` afterwards. ``slow_cap_ms`` (default 5000) caps
    ``/slow``; ``reset()`` restores it."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self.slow_cap_ms = SLOW_CAP_MS
        super().__init__(host, port)

    def reset(self) -> None:
        super().reset()
        self.slow_cap_ms = SLOW_CAP_MS

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/echo", self._echo, methods=ANY_METHOD),
            Route("/echo/b64", self._echo_b64, methods=["GET"]),
            Route("/echo/urlenc", self._echo_urlenc, methods=["GET"]),
            Route("/echo/hex", self._echo_hex, methods=["GET"]),
            Route("/stream", self._stream, methods=["GET"]),
            Route("/status/{code:int}", self._status, methods=ANY_METHOD),
            Route("/redirect", self._redirect, methods=["GET"]),
            Route("/slow", self._slow, methods=ANY_METHOD),
            Route("/text", self._text, methods=["GET"]),
            Route("/json", self._json, methods=["POST"]),
        ]

    async def _echo(self, request: Request) -> Response:
        body = await request.body()
        args: dict[str, Any] = {}
        for key, value in parse_qsl(request.url.query, keep_blank_values=True):
            if key not in args:
                args[key] = value
            elif isinstance(args[key], list):
                args[key].append(value)
            else:
                args[key] = [args[key], value]
        return JSONResponse({
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "args": args,
            "headers": join_headers(request.headers.items()),
            "body": body.decode("utf-8", errors="replace"),
            "json": parse_json(body),
        })

    async def _echo_b64(self, request: Request) -> Response:
        try:
            token = _token(request)
        except _BadRequest as exc:
            return _bad(str(exc))
        return JSONResponse({"token_b64": base64.b64encode(token.encode()).decode("ascii")})

    async def _echo_urlenc(self, request: Request) -> Response:
        try:
            token = _token(request)
        except _BadRequest as exc:
            return _bad(str(exc))
        return JSONResponse({"q": quote(token, safe="")})

    async def _echo_hex(self, request: Request) -> Response:
        try:
            token = _token(request)
        except _BadRequest as exc:
            return _bad(str(exc))
        return JSONResponse({"token_hex": token.encode().hex()})

    async def _stream(self, request: Request) -> Response:
        try:
            size = _int_param(request, "chunk", 4)
            delay_ms = min(max(_int_param(request, "delay_ms", 0), 0), STREAM_DELAY_CAP_MS)
            if size < 1:
                raise _BadRequest("chunk must be at least 1")
            value = request.headers.get("authorization")
            if value is None:
                raise _BadRequest("no Authorization header")
        except _BadRequest as exc:
            return _bad(str(exc))
        data = value.encode("latin-1")

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(data), size):
                if start and delay_ms:
                    await asyncio.sleep(delay_ms / 1000)
                yield data[start:start + size]

        return StreamingResponse(chunks(), media_type="text/plain")

    async def _status(self, request: Request) -> Response:
        code: int = request.path_params["code"]
        if not 200 <= code <= 599:
            return _bad("status code must be between 200 and 599")
        headers = {}
        if "retry_after" in request.query_params:
            headers["retry-after"] = request.query_params["retry_after"]
        if code in (204, 304):
            return Response(status_code=code, headers=headers)
        return JSONResponse({"error": f"FakeEcho answered {code} as asked"}, status_code=code, headers=headers)

    async def _redirect(self, request: Request) -> Response:
        try:
            code = _int_param(request, "code", 302)
        except _BadRequest as exc:
            return _bad(str(exc))
        target = request.query_params.get("to")
        if not target:
            return _bad("query parameter 'to' is required")
        if code not in REDIRECT_CODES:
            return _bad(f"code must be one of {sorted(REDIRECT_CODES)}")
        return RedirectResponse(target, status_code=code)

    async def _slow(self, request: Request) -> Response:
        try:
            ms = min(max(_int_param(request, "ms"), 0), self.slow_cap_ms)
        except _BadRequest as exc:
            return _bad(str(exc))
        await asyncio.sleep(ms / 1000)
        return JSONResponse({"slept_ms": ms})

    async def _text(self, request: Request) -> Response:
        return PlainTextResponse(request.query_params.get("body", TEXT_BODY))

    async def _json(self, request: Request) -> Response:
        body = await request.body()
        parsed = parse_json(body)
        if parsed is None and body.strip() != b"null":
            return _bad("body is not JSON")
        return JSONResponse(parsed)
