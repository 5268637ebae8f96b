"""secrets version and change log

``workspaces.secrets_version``: bumped in the same transaction as every secret created, rotated or
deleted. ``secret_changes``: which secrets each bump changed (ids only), so a process caching the
"no hardcoded tokens" matcher of a workspace refreshes just those secrets on the next save.
``ix_secret_usages_workflow_id``: a workflow save rewrites that workflow's rows of the "used by" index;
the primary key starts with secret_id, so without it the delete read the whole table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 17:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("workspaces", sa.Column("secrets_version", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "secret_changes",
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("secret_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_secret_changes_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "version", "secret_id", name=op.f("pk_secret_changes")),
    )
    with op.batch_alter_table("secret_usages") as batch_op:
        batch_op.create_index(batch_op.f("ix_secret_usages_workflow_id"), ["workflow_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("secret_usages") as batch_op:
        batch_op.drop_index(batch_op.f("ix_secret_usages_workflow_id"))
    op.drop_table("secret_changes")
    with op.batch_alter_table("workspaces") as batch_op:
        batch_op.drop_column("secrets_version")
