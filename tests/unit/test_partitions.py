import datetime as dt

import pytest

from revenue.partitions import PartitionError, day_bounds, parse_partition, partition_range, previous_utc_day


def test_parse_rejects_impossible_dates_with_the_value_in_the_message():
    with pytest.raises(PartitionError, match="2026-02-30"):
        parse_partition("2026-02-30")
    with pytest.raises(PartitionError, match="yesterday"):
        parse_partition("yesterday")


def test_day_bounds_are_half_open_utc():
    start, end = day_bounds(dt.date(2026, 3, 1))
    assert start.isoformat() == "2026-03-01T00:00:00+00:00"
    assert end - start == dt.timedelta(days=1)


def test_scheduled_start_maps_to_the_previous_utc_day():
    assert previous_utc_day(dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.timezone.utc)) == dt.date(2026, 3, 1)
    # a run scheduled at 06:00 UTC but expressed in another zone still maps to the same day
    tokyo = dt.timezone(dt.timedelta(hours=9))
    assert previous_utc_day(dt.datetime(2026, 3, 2, 15, 0, tzinfo=tokyo)) == dt.date(2026, 3, 1)


def test_partition_range_is_inclusive_and_ordered():
    days = partition_range(dt.date(2026, 2, 27), dt.date(2026, 3, 2))
    assert [d.isoformat() for d in days] == ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]
    with pytest.raises(PartitionError):
        partition_range(dt.date(2026, 3, 2), dt.date(2026, 3, 1))
