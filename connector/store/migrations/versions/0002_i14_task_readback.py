"""task ledger: close reason and what the CRM says people did (read-back)

Revision ID: 0002_i14_task_readback
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_i14_task_readback"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("close_reason", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("remote_state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("remote_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("touched", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("remote_due", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("remote_owner", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        for column in ("remote_owner", "remote_due", "touched", "remote_at", "remote_state", "close_reason"):
            batch_op.drop_column(column)
