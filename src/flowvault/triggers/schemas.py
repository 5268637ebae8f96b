from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class HookAccepted(BaseModel):
    run_id: str


class WebhookRead(BaseModel):
    url: str = Field(description="POST JSON here; the token in it is a credential: share it like a password")
    token: str
    accepting: bool = Field(
        description="Whether requests start runs now (the workflow is enabled and has a Webhook trigger)"
    )
    reason: str | None = Field(default=None, description="Why requests are refused, when they are")
    hmac_required: bool


class WebhookSettingsRead(BaseModel):
    hmac_required: bool
    replay_window_s: int
    rate_per_s: float
    burst: int
    signing_key_set: bool = Field(description="A signing key exists (it is shown only once, when created)")
    signing_key_created_at: datetime | None


class WebhookSettingsUpdate(BaseModel):
    """Fields left out keep their value."""

    hmac_required: bool | None = Field(default=None, description="Refuse requests without a valid signature")
    replay_window_s: int | None = Field(
        default=None, ge=10, le=86_400, description="How far X-Flowvault-Timestamp may be from the server's clock"
    )
    rate_per_s: float | None = Field(
        default=None, gt=0, le=1000, description="Sustained requests per second per workflow"
    )
    burst: int | None = Field(
        default=None, ge=1, le=10_000, description="Requests allowed at once before the rate applies"
    )


class SigningKey(BaseModel):
    signing_key: str = Field(description="base64url; shown only in this response. The HMAC key is this text as is.")
