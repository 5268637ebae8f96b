"""Reading a webhook body: content type, size limit, one JSON object."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from flowvault.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

MAX_BODY_BYTES = 1_000_000


def check_content_type(value: str | None) -> None:
    media_type = (value or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        sent = f"'{media_type}'" if media_type else "no Content-Type"
        raise UnsupportedMediaType(
            f"Webhook bodies are JSON: send 'Content-Type: application/json' (got {sent}).",
            extra={"code": "unsupported_media_type"},
        )


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The body is larger than {limit:,} bytes, the webhook limit. Send less data, or a reference to it.",
        extra={"code": "payload_too_large", "limit_bytes": limit},
    )


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused with 413 as soon as it is known to pass ``limit`` (never buffered past it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise BadRequest("The body is empty: send a JSON object, e.g. {}.", extra={"code": "invalid_json"})
    try:
        parsed = json.loads(raw, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"The body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
            extra={"code": "invalid_json"},
        ) from None
    except (ValueError, RecursionError) as exc:  # bad UTF-8, NaN/Infinity, absurd nesting
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(":", 1)[0]
        raise BadRequest(f"The body is not valid JSON: {reason}.", extra={"code": "invalid_json"}) from None
    if not isinstance(parsed, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(parsed), "a number")
        raise ValidationFailed(
            f"The body must be a JSON object (its fields become the trigger's variables); got {kind}.",
            field="body",
            extra={"code": "not_a_json_object"},
        )
    return parsed
