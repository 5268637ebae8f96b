"""schedules

One row per scheduled workflow (enabled, starting with a Schedule trigger): the saved schedule, the
next tick, the last firing, skipped ticks and the lease of the scheduler working on it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 15:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flowvault.db.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("next_fire_at", flowvault.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_fired_at", flowvault.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("skipped_ticks", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", flowvault.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflows.id"], name=op.f("fk_schedules_workflow_id_workflows"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_schedules_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("workflow_id", name=op.f("pk_schedules")),
    )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedules_next_fire_at"), ["next_fire_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedules_workspace_id"), ["workspace_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedules_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_schedules_next_fire_at"))
    op.drop_table("schedules")
