"""accounts whose scoring inputs changed, in write order: a cycle later the same day re-scores only them

Revision ID: 0004_i18_account_changes
Revises: 0003_i18_incremental_resolve
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_i18_account_changes"
down_revision = "0003_i18_incremental_resolve"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty at first: no cycle has recorded a mark yet, so the first cycle after the upgrade scores every account.
    op.create_table(
        "account_changes",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sqlite_autoincrement=True,  # never reuse a number after pruning: a change mark must only grow
    )


def downgrade() -> None:
    op.drop_table("account_changes")
