"""Why a hook request was refused. Every refusal is its own error with a stable ``code`` member in
the problem+json body, so a sender can tell them apart (and a person reading it knows what to fix):

    NotFound                 404  webhook_not_found      unknown workflow or wrong token (never says which)
    Conflict                 409  workflow_disabled / no_webhook_trigger
    RateLimited              429  rate_limited           (Retry-After)
    UnsupportedMediaType     415  unsupported_media_type
    PayloadTooLarge          413  payload_too_large
    BadRequest               400  invalid_json
    ValidationFailed         422  not_a_json_object
    SignatureError           401  signature_missing / timestamp_malformed / signature_malformed /
                                  signature_mismatch / timestamp_outside_window
    ReplayedRequest          409  replayed
"""

from __future__ import annotations

from flowvault.errors import AuthenticationRequired, Conflict, NotFound


class WebhookNotFound(NotFound):
    title = "Webhook not found"

    def __init__(self) -> None:
        super().__init__(
            "No webhook at this URL. Check the workflow id and the token; after a token is regenerated only "
            "the new URL works.",
            extra={"code": "webhook_not_found"},
        )


class WebhookInactive(Conflict):
    title = "Webhook not accepting requests"

    def __init__(self, detail: str, *, code: str) -> None:
        super().__init__(detail, extra={"code": code})


class SignatureError(AuthenticationRequired):
    """The request is not signed as the workspace requires. Subclasses differ by title and code."""

    code = "signature_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, extra={"code": self.code})


class SignatureMissing(SignatureError):
    title = "Signature missing"
    code = "signature_missing"


class TimestampMalformed(SignatureError):
    title = "Timestamp malformed"
    code = "timestamp_malformed"


class SignatureMalformed(SignatureError):
    title = "Signature malformed"
    code = "signature_malformed"


class SignatureMismatch(SignatureError):
    title = "Signature does not match"
    code = "signature_mismatch"


class TimestampOutsideWindow(SignatureError):
    title = "Timestamp outside the replay window"
    code = "timestamp_outside_window"


class ReplayedRequest(Conflict):
    title = "Replayed request"

    def __init__(self) -> None:
        super().__init__(
            "A request with this signature was already accepted. Each delivery must be signed anew with a "
            "fresh X-Flowvault-Timestamp; if you are retrying, the first attempt already started a run.",
            extra={"code": "replayed"},
        )
