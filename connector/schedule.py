"""Cron expressions as the admin writes them, parsed once for the config and the daemon.

``config.py`` validates a schedule's ``cron`` when the file is loaded and the daemon builds its triggers
from it; both need the same parser, and the config (the bottom of the import graph) must not reach up into
the daemon for it, so it lives here, below both.
"""

from __future__ import annotations

import re
from datetime import UTC

from apscheduler.triggers.cron import CronTrigger

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DOW_NUMBER = re.compile(r"(?<![/\d])\d+")


def cron_trigger(expr: str) -> CronTrigger:
    """A crontab expression with crontab's weekday numbers (0 or 7 = Sunday, 1 = Monday), in UTC.

    APScheduler 3's ``from_crontab`` passes weekday numbers through with its own meaning (0 = Monday), so
    ``1-5`` would run Tuesday to Saturday; numbers are translated to names first.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"Wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, dow = fields

    def name(match: re.Match[str]) -> str:
        number = int(match.group(0))
        if number > 7:
            raise ValueError(f"day of week {number} is not 0-7")
        return _WEEKDAYS[number]

    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=_DOW_NUMBER.sub(name, dow), timezone=UTC
    )
