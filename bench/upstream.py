"""The fake upstream both the flowvault workflow and the bare baseline call: a raw ASGI app on 127.0.0.2.

``POST /hook`` answers 200 ``{"ok": true}`` when ``Authorization`` is ``Bearer $BENCH_UPSTREAM_TOKEN``,
401 otherwise; ``POST /open`` answers the same 200 without checking anything (the no-credential
variant); ``GET /count`` answers ``{"ok": N, "refused": M}``. No framework, no logging: it
should cost as little CPU as possible, since it shares the machine with what is measured."""

from __future__ import annotations

import json
import os
from typing import Any

Scope = dict[str, Any]

EXPECTED = f"Bearer {os.environ.get('BENCH_UPSTREAM_TOKEN', '')}".encode()
COUNTS = {"ok": 0, "refused": 0}
JSON_HEADERS = [(b"content-type", b"application/json")]


async def _reply(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/count":
        await _reply(send, 200, json.dumps(COUNTS).encode())
        return
    more = True
    while more:  # drain the body
        message = await receive()
        more = message.get("more_body", False)
    authorization = dict(scope["headers"]).get(b"authorization")
    if authorization == EXPECTED or scope["path"] == "/open":
        COUNTS["ok"] += 1
        await _reply(send, 200, b'{"ok":true}')
    else:
        COUNTS["refused"] += 1
        await _reply(send, 401, b'{"ok":false}')
