"""incremental identity resolution: dirty observations, what each one last fed, a store-wide key/value table

Revision ID: 0003_i18_incremental_resolve
Revises: 0002_i14_task_readback
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_i18_incremental_resolve"
down_revision = "0002_i14_task_readback"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows start dirty, so the first cycle after the upgrade resolves everything once.
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dirty", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("signals_account_id", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_observations_dirty", ["source", "dirty"], unique=False)
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("store_meta")
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.drop_index("ix_observations_dirty")
        batch_op.drop_column("signals_account_id")
        batch_op.drop_column("dirty")
