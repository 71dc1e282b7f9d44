"""engine states packed: one row of numbers per account under a named layout, beside the JSON states

Revision ID: 0006_i18_packed_engine_states
Revises: 0005_i18_observations_by_account
Create Date: 2026-12-01

Making, encoding, parsing and walking one JSON document per account was about a quarter of a daily full
pass (see ``connector/scoring/packed_state.py``).  ``account_state`` stays: an upgraded store's JSON states
are read until each account's first packed state is saved, which deletes its JSON row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_i18_packed_engine_states"
down_revision = "0005_i18_observations_by_account"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engine_states",
        sa.Column("account_id", sa.String(255), primary_key=True),
        sa.Column("layout", sa.String(32), nullable=False),
        sa.Column("packed", sa.LargeBinary(), nullable=False),
        sa.Column("plan", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("engine_states")
