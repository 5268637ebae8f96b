"""A fake Slack Web API: ``POST /api/chat.postMessage`` and ``POST /api/auth.test``.

Behaviour follows SERVICE-APIS.md section 1: errors are HTTP 200 ``{"ok": false, "error": ...}``
except the rate limit (HTTP 429 + ``Retry-After``). The token comes from ``Authorization: Bearer``
or, for form bodies only, a ``token=`` field; a ``token`` key inside a JSON body is ignored, as
Slack ignores it, so such a request gets ``not_authed``.

    fake.valid_tokens = {"xoxb-mine"}       # replace the accepted tokens (reset() restores them)
    fake.revoked_tokens.add("xoxb-old")     # -> token_revoked
    ... post to f"{fake.url}/api/chat.postMessage" ...
    assert fake.messages[0].token == "xoxb-mine"

Posting to channel ``C_RATE`` always answers 429 ``ratelimited`` with ``Retry-After: 1``.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from tests.fakes.server import DEFAULT_HOST, FakeServer, bearer_token

SLACK_TOKEN = "xoxb-fake-0000-valid-bot-token"
RATE_LIMITED_CHANNEL = "C_RATE"
DEFAULT_SCOPES = ("chat:write", "chat:write.public", "channels:read")


@dataclass(frozen=True)
class SlackMessage:
    """A message the fake accepted. ``auth`` is "header" or "form" (where the token came from)."""

    channel: str
    text: str | None
    blocks: Any
    attachments: Any
    thread_ts: str | None
    ts: str
    token: str
    auth: str
    payload: dict[str, Any]


class _SlackError(Exception):
    def __init__(self, error: str, status: int = 200, headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = headers or {}


class FakeSlack(FakeServer):
    """Attributes a test may change (``reset()`` restores the constructor's values):
    ``valid_tokens``, ``revoked_tokens``, ``scopes`` (sent as ``x-oauth-scopes``), ``retry_after``."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        valid_tokens: set[str] | None = None,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
    ) -> None:
        self._default_tokens = frozenset({SLACK_TOKEN} if valid_tokens is None else valid_tokens)
        self._default_scopes = tuple(scopes)
        self._ts_seq = itertools.count(1)
        self._epoch = int(time.time())
        self._messages: list[SlackMessage] = []
        self._restore()
        super().__init__(host, port)

    def _restore(self) -> None:
        self.valid_tokens: set[str] = set(self._default_tokens)
        self.revoked_tokens: set[str] = set()
        self.scopes: list[str] = list(self._default_scopes)
        self.retry_after = 1

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._messages.clear()
        self._restore()

    @property
    def messages(self) -> list[SlackMessage]:
        """A snapshot of the messages posted successfully, oldest first."""
        with self._lock:
            return list(self._messages)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/chat.postMessage", self._post_message, methods=["POST"]),
            Route("/api/auth.test", self._auth_test, methods=["POST"]),
            Route("/api/{method}", self._unknown_method, methods=["GET", "POST"]),
        ]

    # -- handlers ------------------------------------------------------------------------------

    def _reply(self, content: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
        merged = {"x-oauth-scopes": ",".join(self.scopes), **(headers or {})}
        return JSONResponse(content, status_code=status, headers=merged)

    def _error(self, exc: _SlackError) -> JSONResponse:
        return self._reply({"ok": False, "error": exc.error}, exc.status, exc.headers)

    async def _auth_test(self, request: Request) -> JSONResponse:
        try:
            args, is_form = await _arguments(request)
            self._authenticate(request, args, is_form)
        except _SlackError as exc:
            return self._error(exc)
        return self._reply({
            "ok": True,
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "fakebot",
            "team_id": "T0FAKE0001",
            "user_id": "U0FAKE0001",
            "bot_id": "B0FAKE0001",
            "is_enterprise_install": False,
        })

    async def _post_message(self, request: Request) -> JSONResponse:
        try:
            args, is_form = await _arguments(request)
            token, auth = self._authenticate(request, args, is_form)
            channel = args.get("channel")
            if not isinstance(channel, str) or not channel:
                raise _SlackError("channel_not_found")
            if channel == RATE_LIMITED_CHANNEL:
                raise _SlackError("ratelimited", 429, {"retry-after": str(self.retry_after)})
            text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
            if not (isinstance(text, str) and text) and not blocks and not attachments:
                raise _SlackError("no_text")
        except _SlackError as exc:
            return self._error(exc)
        ts = f"{self._epoch}.{next(self._ts_seq):06d}"
        thread_ts = args.get("thread_ts")
        message = SlackMessage(
            channel=channel,
            text=text if isinstance(text, str) else None,
            blocks=blocks,
            attachments=attachments,
            thread_ts=thread_ts if isinstance(thread_ts, str) else None,
            ts=ts,
            token=token,
            auth=auth,
            payload={k: v for k, v in args.items() if k != "token"},
        )
        with self._lock:
            self._messages.append(message)
        echoed: dict[str, Any] = {"type": "message", "text": message.text or "", "user": "U0FAKE0001",
                                  "bot_id": "B0FAKE0001", "ts": ts}
        if blocks:
            echoed["blocks"] = blocks
        if message.thread_ts:
            echoed["thread_ts"] = message.thread_ts
        return self._reply({"ok": True, "channel": channel, "ts": ts, "message": echoed})

    async def _unknown_method(self, request: Request) -> JSONResponse:
        return self._reply({"ok": False, "error": "unknown_method"}, 404)

    def _authenticate(self, request: Request, args: dict[str, Any], is_form: bool) -> tuple[str, str]:
        token = bearer_token(request.headers.get("authorization"))
        auth = "header"
        if token is None and is_form and args.get("token"):
            token, auth = str(args["token"]), "form"
        if token is None:
            raise _SlackError("not_authed")
        if token in self.revoked_tokens:
            raise _SlackError("token_revoked")
        if token not in self.valid_tokens:
            raise _SlackError("invalid_auth")
        return token, auth


async def _arguments(request: Request) -> tuple[dict[str, Any], bool]:
    """The method's arguments from a JSON or form body, and whether it was a form. Form fields
    ``blocks`` / ``attachments`` hold JSON strings, as in Slack's form encoding."""
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            raise _SlackError("invalid_json") from None
        if not isinstance(parsed, dict):
            raise _SlackError("invalid_json")
        return {k: v for k, v in parsed.items() if k != "token"}, False
    if content_type not in ("", "application/x-www-form-urlencoded"):
        raise _SlackError("invalid_form_data")
    try:
        args: dict[str, Any] = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body)))
    except (UnicodeDecodeError, ValueError):
        raise _SlackError("invalid_form_data") from None
    for key in ("blocks", "attachments"):
        if isinstance(args.get(key), str) and args[key]:
            try:
                args[key] = json.loads(args[key])
            except ValueError:
                raise _SlackError("invalid_blocks" if key == "blocks" else "invalid_attachments") from None
    return args, True
