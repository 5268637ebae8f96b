"""webhooks and dead-letter queue

Webhook tokens per workflow (hash + sealed copy), webhook settings per workspace (the signing key
sealed with the workspace data key), accepted signed deliveries (replay guard), and the run columns
of the dead-letter queue (requeued from/as, cleared at).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 14:16:50.441990
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flowvault.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_settings",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("hmac_required", sa.Boolean(), nullable=False),
        sa.Column("replay_window_s", sa.Integer(), nullable=False),
        sa.Column("rate_per_s", sa.Double(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column("signing_key_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("signing_key_version", sa.Integer(), nullable=False),
        sa.Column("signing_key_created_at", flowvault.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", flowvault.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_webhook_settings_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_webhook_settings")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("expires_at", flowvault.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_webhook_deliveries_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workflow_id", "signature", name=op.f("pk_webhook_deliveries")),
    )
    op.create_table(
        "webhooks",
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("created_at", flowvault.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", flowvault.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflows.id"], name=op.f("fk_webhooks_workflow_id_workflows"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_webhooks_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("workflow_id", name=op.f("pk_webhooks")),
    )
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhooks_workspace_id"), ["workspace_id"], unique=False)

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requeued_from_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("requeued_as_id", sa.String(length=36), nullable=True))
        batch_op.add_column(
            sa.Column("dead_letter_cleared_at", flowvault.db.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("dead_letter_cleared_at")
        batch_op.drop_column("requeued_as_id")
        batch_op.drop_column("requeued_from_id")

    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhooks_workspace_id"))

    op.drop_table("webhooks")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_settings")
