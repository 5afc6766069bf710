"""When yesterday's partition is due: a UTC time of day (``07:30`` by default), the late-day
alert's deadline. A day ``D`` is due at ``D + 1 day + deadline`` (its UTC midnight close plus
the deadline)."""

from __future__ import annotations

import datetime as dt
import re

_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def parse_deadline(value: str) -> dt.timedelta:
    """``HH:MM`` or ``HH:MM:SS`` (UTC, after the day closed at midnight) as a duration."""
    match = _TIME.fullmatch(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a UTC time HH:MM (or HH:MM:SS)")
    hours, minutes, seconds = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"{value!r} is not a time of day")
    return dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)


def day_closed(day: dt.date) -> dt.datetime:
    """The UTC midnight that ends ``day``."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=dt.timezone.utc)


def due_at(day: dt.date, deadline: str) -> dt.datetime:
    return day_closed(day) + parse_deadline(deadline)


LAST_LOOK = dt.timedelta(minutes=2)


def last_look(deadline: str | dt.timedelta) -> dt.timedelta:
    """How long before the deadline (``HH:MM`` or already parsed) the landing watcher takes
    its last look at the day and hands the decision to the late-day automation (two minutes,
    or the whole deadline when it is shorter): that automation's window."""
    duration = parse_deadline(deadline) if isinstance(deadline, str) else deadline
    return min(LAST_LOOK, duration) or dt.timedelta(seconds=1)
