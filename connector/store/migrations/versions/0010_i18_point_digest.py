"""score history: each point's digest, so a re-score does not append the point today already holds

Revision ID: 0010_i18_point_digest
Revises: 0009_i18_written_digest
Create Date: 2026-12-01

The digest is the BLAKE2b of the point's outputs with the run's stamp blanked
(connector/scoring/point_prints.py).  Existing points have none: the first re-score after the upgrade
writes its points once, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_i18_point_digest"
down_revision = "0009_i18_written_digest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("score_history") as batch:
        batch.add_column(sa.Column("digest", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("score_history") as batch:
        batch.drop_column("digest")
