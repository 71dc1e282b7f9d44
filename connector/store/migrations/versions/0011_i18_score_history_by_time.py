"""score history by time: today's points and a report's last week without reading every point's entry

Revision ID: 0011_i18_score_history_by_time
Revises: 0010_i18_point_digest
Create Date: 2026-12-02

A full pass reads the score history by account only for the few accounts whose trend is too young
(``ScoringInputs.history_of``); of every account it reads today's last point, for its digest
(connector/scoring/point_prints.py), and the report reads each account's latest point of the last week.
The (account_id, scored_at) index cannot seek "scored_at >= midnight": SQLite filtered every entry of it,
0.2 s per million points — a point per account per day, so about 11 s a pass for a 1M-account store two
months in, 70 s a year in, on every daily pass, to find none.  Building the index reads the table once
(SQLite: 1.4 s per million points, so about 90 s at upgrade for a 1M-account store two months in);
appending to it cost nothing measurable (new points sort last: a 100k daily pass persisted in 9.5 s with
it and 9.6–9.9 s without).
"""

from __future__ import annotations

from alembic import op

revision = "0011_i18_score_history_by_time"
down_revision = "0010_i18_point_digest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_score_time", "score_history", ["scored_at"])


def downgrade() -> None:
    op.drop_index("ix_score_time", table_name="score_history")
