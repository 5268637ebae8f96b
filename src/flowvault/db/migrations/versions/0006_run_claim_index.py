"""index for the concurrency count of the claim

Claiming a run counts the workspace's running runs. With only ``ix_runs_workspace_id`` that count read
every run the workspace ever had, so claiming slowed down as the run history grew.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 17:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_runs_workspace_id_status", "runs", ["workspace_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_runs_workspace_id_status", table_name="runs")
