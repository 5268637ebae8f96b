"""The bare baseline: a minimal ASGI endpoint that receives the webhook POST, parses its JSON and
makes the same outbound call as the workflow (same method, header and body) with one shared
``httpx.AsyncClient``; nothing else (no database, no engine). It answers 202 once the call is done.

Configured by ``BENCH_UPSTREAM_URL`` and ``BENCH_UPSTREAM_TOKEN``."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import httpx

Scope = dict[str, Any]

UPSTREAM = os.environ.get("BENCH_UPSTREAM_URL", "http://127.0.0.2:9/hook")
HEADERS = {"Authorization": f"Bearer {os.environ.get('BENCH_UPSTREAM_TOKEN', '')}"}
_client: httpx.AsyncClient | None = None


async def _reply(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Any, send: Any) -> None:
    global _client
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _client = httpx.AsyncClient(trust_env=False)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _client is not None:
                    await _client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["method"] != "POST":
        await _reply(send, 200, b'{"status":"ok"}')
        return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = json.loads(b"".join(chunks))
    assert _client is not None
    response = await _client.post(UPSTREAM, headers=HEADERS, json={"order": body.get("order")})
    if response.status_code != 200:
        await _reply(send, 502, b'{"error":"upstream refused"}')
        return
    await _reply(send, 202, json.dumps({"run_id": str(uuid.uuid4())}).encode())
