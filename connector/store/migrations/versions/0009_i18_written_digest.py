"""written records: the digest of the outputs their values settle (the diff's fast path)

Revision ID: 0009_i18_written_digest
Revises: 0008_i18_written_records
Create Date: 2026-12-01

A full pass compares each record's output digest with this column and reads the written values (a JSON
object) only of the records whose digest differs (connector/sinks/record_digest.py).  Existing rows start
without one: the first pass after the upgrade diffs every record as before and settles them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_i18_written_digest"
down_revision = "0008_i18_written_records"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("written_records") as batch:
        batch.add_column(sa.Column("digest", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("written_records") as batch:
        batch.drop_column("digest")
