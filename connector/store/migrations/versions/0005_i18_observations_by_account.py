"""observations by (source, account): re-reading the readings of a few changed accounts is an index lookup

Revision ID: 0005_i18_observations_by_account
Revises: 0004_i18_account_changes
Create Date: 2026-11-30

Without it SQLite (which keeps no statistics unless ANALYZE is run) read a source's matched readings for
a chunk of 900 accounts through ``ix_observations_dirty`` — every observation of the source, then a sort —
once per chunk: a 1 % cycle at 1M accounts spent 43 s there, and the cost grew with changed × all.  With
the source, account and the primary key's order in one index, each account is a lookup and the rows come
in the order the rebuild reads them, no sort.
"""

from __future__ import annotations

from alembic import op

revision = "0005_i18_observations_by_account"
down_revision = "0004_i18_account_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_observations_source_account", "observations",
                    ["source", "account_id", "entity", "entity_id"])


def downgrade() -> None:
    op.drop_index("ix_observations_source_account", table_name="observations")
