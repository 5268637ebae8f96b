"""run lease for Celery workers

``runs.heartbeat_at``: renewed by the worker executing a run; a running run whose lease has not been
renewed for ``FLOWVAULT_RUN_LEASE_SECONDS`` was orphaned by a lost worker and is retried.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 15:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flowvault.db.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("heartbeat_at", flowvault.db.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch_op:
        batch_op.drop_column("heartbeat_at")
