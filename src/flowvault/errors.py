"""The error tree. Every error the API can answer with is one of these, mapped to HTTP in one place
(``flowvault.app``) as RFC 9457 problem+json. Messages say what happened and what to do.

    FlowvaultError
    ├── BadRequest                 400
    ├── AuthenticationRequired     401
    ├── PermissionDenied           403  (a member lacking the role; non-members get NotFound)
    ├── NotFound                   404
    ├── Conflict                   409  (optionally carrying structured ``extra`` members)
    ├── ValidationFailed           422  (names the field that is wrong)
    ├── PayloadTooLarge            413
    ├── UnsupportedMediaType       415
    ├── RateLimited                429  (sets Retry-After)
    └── ConfigurationError         --   (start-up / operator errors: settings, schema)
        └── KeyringError                (master keys missing, wrong, unreadable)

    DecryptionError                -- one opaque error for every failed decrypt; says nothing of why
    EgressBlocked (flowvault.egress) -- a node's outbound request refused by the egress guard
"""

from __future__ import annotations

from typing import Any, ClassVar


class FlowvaultError(Exception):
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        self.headers: dict[str, str] = {}


class BadRequest(FlowvaultError):
    status = 400
    title = "Bad request"


class AuthenticationRequired(FlowvaultError):
    status = 401
    title = "Authentication required"


class PermissionDenied(FlowvaultError):
    status = 403
    title = "Permission denied"


class NotFound(FlowvaultError):
    status = 404
    title = "Not found"


class Conflict(FlowvaultError):
    status = 409
    title = "Conflict"


class ValidationFailed(FlowvaultError):
    status = 422
    title = "Validation failed"

    def __init__(self, detail: str, *, field: str | None = None, extra: dict[str, Any] | None = None) -> None:
        merged = dict(extra or {})
        if field is not None:
            merged["field"] = field
        super().__init__(detail, extra=merged)
        self.field = field


class PayloadTooLarge(FlowvaultError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(FlowvaultError):
    status = 415
    title = "Unsupported media type"


class RateLimited(FlowvaultError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail, extra={"retry_after": retry_after, **(extra or {})})
        self.headers["Retry-After"] = str(retry_after)


class ConfigurationError(FlowvaultError):
    title = "Configuration problem"


class KeyringError(ConfigurationError):
    title = "Master key problem"


class DecryptionError(Exception):
    """Raised for every failed decrypt or unwrap. Deliberately carries no detail about the cause."""

    def __init__(self) -> None:
        super().__init__("decryption failed")
