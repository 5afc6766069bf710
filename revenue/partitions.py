"""Day partitions: one UTC calendar day of ``order_date``, written ``YYYY-MM-DD``.

Every run works on whole partitions. This module is the single place that turns
user input (CLI flags, flow parameters, a scheduled start time) into partitions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

UTC = dt.timezone.utc


class PartitionError(ValueError):
    """A partition date or range that cannot be used."""


def parse_partition(value: str | dt.date | dt.datetime) -> dt.date:
    """Parse ``YYYY-MM-DD`` (or a date) into the partition's date.

    Raises:
        PartitionError: naming the value and why it is not a partition.
    """
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PartitionError(
            f"invalid partition date {text!r}: expected an existing calendar day as YYYY-MM-DD"
        ) from None


def day_bounds(partition: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The half-open UTC interval ``[start, end)`` that the partition covers."""
    start = dt.datetime.combine(partition, dt.time(0), tzinfo=UTC)
    return start, start + dt.timedelta(days=1)


def partition_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every partition from ``start`` to ``end``, both inclusive."""
    if end < start:
        raise PartitionError(f"end {end.isoformat()} is before start {start.isoformat()}")
    return list(_iter_days(start, end))


def _iter_days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def previous_utc_day(moment: dt.datetime) -> dt.date:
    """The partition a run scheduled at ``moment`` processes: the UTC day before it.

    A daily 06:00 UTC run scheduled for 2026-03-02 processes 2026-03-01, however late
    it actually starts and however often it is retried.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date() - dt.timedelta(days=1)
