"""Time windows of source signals ("in the last 90 days", "unresolved for more than 7 days") on whole days.

Why: a window that starts at ``now − N days`` to the second moves during the day, so a re-sync minutes
after a sync counts a ticket or an invoice that crossed the edge in between and rewrites fields on an
unchanged world (measured: 20 fields on 3 of 10,000 accounts at 00:30).  Every window here starts at a UTC
midnight: every run on the same day sees the same windows, and they move once a day, when the sources
recompute every group anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta


def day_start(now: datetime) -> datetime:
    """Midnight (UTC) of ``now``'s UTC day."""
    return datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)


def window_start(now: datetime, days: int) -> datetime:
    """The start of the ``days``-day window that ends today: midnight ``days`` days before today (UTC)."""
    return day_start(now) - timedelta(days=days)


def days_between(earlier: datetime, now: datetime) -> int:
    """Whole calendar days (UTC) from ``earlier``'s day to ``now``'s day."""
    return (now.astimezone(UTC).date() - earlier.astimezone(UTC).date()).days
