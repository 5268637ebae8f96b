"""A fake SendGrid v3 API: ``POST /v3/mail/send`` and ``GET /v3/scopes``.

Behaviour follows SERVICE-APIS.md section 2. Auth is ``Authorization: Bearer <key>`` only.
A missing header gets 401 ``authorization required`` and an unknown key 401 ``The provided
authorization grant is invalid, expired, or revoked`` (both as SendGrid answers them); a valid key
whose ``scopes`` lack ``mail.send`` gets 403 ``access forbidden`` from mail/send. Validation
failures are 400 with every problem listed, each ``{"message", "field", "help": null}``. Success is
202 with an empty body and an ``X-Message-Id`` header; the mail is appended to ``mails``.

    fake.valid_keys = {"SG.mine"}          # reset() restores the constructor's keys
    ... post to f"{fake.url}/v3/mail/send" ...
    assert fake.mails[0].key == "SG.mine" and fake.mails[0].to == ["a@example.com"]
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tests.fakes.server import DEFAULT_HOST, FakeServer, bearer_token, parse_json

SENDGRID_KEY = "SG.fake-0000.valid-api-key"
DEFAULT_SCOPES = ("mail.send",)
MISSING_AUTH = "authorization required"
INVALID_AUTH = "The provided authorization grant is invalid, expired, or revoked"
FORBIDDEN = "access forbidden"


@dataclass(frozen=True)
class SentMail:
    """A mail the fake accepted with 202."""

    key: str
    message_id: str
    payload: dict[str, Any]

    @property
    def to(self) -> list[str]:
        """Every ``to`` address across the personalizations, in order."""
        return [r["email"] for p in self.payload["personalizations"] for r in p["to"]]

    @property
    def from_email(self) -> str:
        return str(self.payload["from"]["email"])

    @property
    def subject(self) -> str | None:
        subject = self.payload.get("subject")
        return subject if isinstance(subject, str) else None

    @property
    def template_id(self) -> str | None:
        template_id = self.payload.get("template_id")
        return template_id if isinstance(template_id, str) else None


def _error(message: str, field: str | None = None) -> dict[str, Any]:
    return {"message": message, "field": field, "help": None}


def _errors(status: int, *errors: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"errors": list(errors)}, status_code=status)


def _is_email(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    local, at, domain = value.partition("@")
    return bool(local and at and domain and "@" not in domain and " " not in value)


def validate_mail(payload: Any) -> list[dict[str, Any]]:
    """The 400 errors SendGrid would report for ``payload``; empty when it is acceptable."""
    if not isinstance(payload, dict):
        return [_error("Bad Request: the body must be a JSON object.")]
    problems: list[dict[str, Any]] = []
    personalizations = payload.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        problems.append(_error(
            "The personalizations field is required and must have at least one personalization.",
            "personalizations",
        ))
    else:
        for i, personalization in enumerate(personalizations):
            to = personalization.get("to") if isinstance(personalization, dict) else None
            if not isinstance(to, list) or not to:
                problems.append(_error(
                    "The to array is required for all personalization objects, and must have at least one email "
                    "object with a valid email address.",
                    f"personalizations.{i}.to",
                ))
                continue
            for j, recipient in enumerate(to):
                email = recipient.get("email") if isinstance(recipient, dict) else None
                if not _is_email(email):
                    problems.append(_error("Does not contain a valid address.", f"personalizations.{i}.to.{j}.email"))
    sender = payload.get("from")
    if not isinstance(sender, dict) or not _is_email(sender.get("email")):
        problems.append(_error(
            "The from object must be provided for every email send. It is an object that requires the email "
            "parameter, but may also contain a name parameter.",
            "from.email",
        ))
    template_id = payload.get("template_id")
    has_template = template_id is not None
    if has_template and not (isinstance(template_id, str) and template_id.startswith("d-")):
        problems.append(_error("The template_id must be a dynamic template ID, which starts with 'd-'.", "template_id"))
    content = payload.get("content")
    if content is None and not has_template:
        problems.append(_error(
            "Unless a valid template_id is provided, the content parameter is required. There must be at least "
            "one defined content block.",
            "content",
        ))
    elif content is not None:
        problems.extend(_validate_content(content))
    return problems


def _validate_content(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list) or not content:
        return [_error("The content parameter must be an array with at least one content block.", "content")]
    problems: list[dict[str, Any]] = []
    types: list[str] = []
    for i, block in enumerate(content):
        block_type = block.get("type") if isinstance(block, dict) else None
        value = block.get("value") if isinstance(block, dict) else None
        if not isinstance(block_type, str) or not block_type:
            problems.append(_error("The content type is required.", f"content.{i}.type"))
        else:
            types.append(block_type)
        if not isinstance(value, str) or not value:
            problems.append(_error("The content value must be a string at least one character in length.",
                                   f"content.{i}.value"))
    if "text/plain" in types and "text/html" in types and types.index("text/plain") > types.index("text/html"):
        problems.append(_error("If present, text/plain content must be first, followed by text/html.", "content"))
    return problems


class FakeSendGrid(FakeServer):
    """Attributes a test may change (``reset()`` restores the constructor's values):
    ``valid_keys`` and ``scopes`` (what ``GET /v3/scopes`` lists; without ``mail.send`` sends get 403)."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        valid_keys: set[str] | None = None,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
    ) -> None:
        self._default_keys = frozenset({SENDGRID_KEY} if valid_keys is None else valid_keys)
        self._default_scopes = tuple(scopes)
        self._mails: list[SentMail] = []
        self._restore()
        super().__init__(host, port)

    def _restore(self) -> None:
        self.valid_keys: set[str] = set(self._default_keys)
        self.scopes: list[str] = list(self._default_scopes)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._mails.clear()
        self._restore()

    @property
    def mails(self) -> list[SentMail]:
        """A snapshot of the mails accepted with 202, oldest first."""
        with self._lock:
            return list(self._mails)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v3/mail/send", self._send, methods=["POST"]),
            Route("/v3/scopes", self._scopes, methods=["GET"]),
        ]

    def _authenticate(self, request: Request) -> str | JSONResponse:
        authorization = request.headers.get("authorization")
        if not authorization:
            return _errors(401, _error(MISSING_AUTH))
        key = bearer_token(authorization)
        if key is None or key not in self.valid_keys:
            return _errors(401, _error(INVALID_AUTH))
        return key

    async def _scopes(self, request: Request) -> Response:
        key = self._authenticate(request)
        if isinstance(key, Response):
            return key
        return JSONResponse({"scopes": list(self.scopes)})

    async def _send(self, request: Request) -> Response:
        key = self._authenticate(request)
        if isinstance(key, Response):
            return key
        if "mail.send" not in self.scopes:
            return _errors(403, _error(FORBIDDEN))
        body = await request.body()
        payload = parse_json(body)
        problems = validate_mail(payload)
        if problems:
            return _errors(400, *problems)
        assert isinstance(payload, dict)
        message_id = secrets.token_urlsafe(16)
        with self._lock:
            self._mails.append(SentMail(key=key, message_id=message_id, payload=payload))
        return Response(status_code=202, headers={"x-message-id": message_id})
