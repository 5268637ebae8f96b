from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from flowvault.db.base import Base, UTCDateTime, utcnow


class Webhook(Base):
    """A workflow's webhook token. ``token_hash`` (SHA-256) is what an incoming request is checked
    against; ``token_sealed`` is the token sealed with the workspace data key, so the API can show
    the URL again. ``generation`` goes up with every regeneration (and binds the ciphertext to it)."""

    __tablename__ = "webhooks"

    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    token_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebhookSettings(Base):
    """Per-workspace webhook settings. The signing key is stored only sealed with the workspace data key."""

    __tablename__ = "webhook_settings"

    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    hmac_required: Mapped[bool] = mapped_column(default=False)
    replay_window_s: Mapped[int] = mapped_column(Integer, default=300)
    rate_per_s: Mapped[float] = mapped_column(default=5.0)
    burst: Mapped[int] = mapped_column(Integer, default=20)
    signing_key_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    signing_key_version: Mapped[int] = mapped_column(Integer, default=0)
    signing_key_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookDelivery(Base):
    """A signed request that was accepted, kept until its timestamp leaves the replay window so the
    same signature is refused if it comes again (across every server process: the database decides)."""

    __tablename__ = "webhook_deliveries"

    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True)
    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Schedule(Base):
    """A scheduled workflow: present while the workflow is enabled and starts with a Schedule trigger
    (kept in step on every save). ``spec`` is the trigger's settings as saved; ``next_fire_at`` is the
    tick the scheduler fires next. Firing a tick is one transaction: the conditional update of
    ``next_fire_at`` (from the value read) and the queued run — so of several schedulers, one fires
    each tick. ``lease_owner``/``lease_expires_at`` name the scheduler working on the row meanwhile."""

    __tablename__ = "schedules"

    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    next_fire_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    last_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    skipped_ticks: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
