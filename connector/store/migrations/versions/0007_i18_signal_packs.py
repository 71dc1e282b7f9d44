"""signal packs: each account's signals in one row, a cache the scoring stage reads instead of the rows

Revision ID: 0007_i18_signal_packs
Revises: 0006_i18_packed_engine_states
Create Date: 2026-12-01

Reading 27 signal rows per account (27 million at 1M accounts) was most of a daily full pass's load (see
``connector/scoring/signal_packs.py``).  The table starts empty: the first scoring run after the upgrade
reads the rows, as before, and saves every account's pack.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_i18_signal_packs"
down_revision = "0006_i18_packed_engine_states"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signal_packs",
        sa.Column("account_id", sa.String(255), primary_key=True),
        sa.Column("rev", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False, server_default="0"),
        sa.Column("layout", sa.String(32), nullable=True),
        sa.Column("packed", sa.LargeBinary(), nullable=True),
        sa.Column("texts", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("signal_packs")
