"""Planning a range: fingerprints of many days from one query, landed files in the
fingerprint, and the status grid that compares both with the ledger."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from flows.backfill import backfill
from flows.daily_revenue import daily_revenue
from revenue.io.environment import environment
from revenue.io.landing.listing import watch_once
from revenue.io.partition_input import plan_inputs
from revenue.status import partition_statuses
from tests.integration.conftest import s3_client
from tests.integration.helpers import published, seed_orders

DAY = dt.date(2026, 3, 1)
ROWS = [
    (1, "alice", 10.00, "2026-03-01 00:00:00"),
    (2, None, 5.50, "2026-03-01 23:59:59.999"),
    (3, "bob", -2.00, "2026-03-02 00:00:00"),
    (4, "carol", 7.25, "2026-03-04 12:00:00"),
]
DAYS = [DAY + dt.timedelta(days=i) for i in range(-1, 5)]  # 2026-02-28 .. 2026-03-05


@pytest.fixture(params=["sqlite_env", "pg_env"])
def any_env(request) -> str:
    return request.getfixturevalue(request.param)


def test_fingerprints_of_a_range_equal_each_days_own_and_move_only_with_their_day(any_env):
    seed_orders(any_env, ROWS)
    source = environment(any_env).source
    many = source.fingerprints(DAYS)

    assert many == {day: source.fingerprint(day) for day in DAYS}
    assert len(set(many.values())) == len(DAYS), "empty days must not share a fingerprint"

    seed_orders(any_env, [(5, "dave", 1.00, "2026-03-04 13:00:00")], replace=False)
    after = source.fingerprints(DAYS)
    assert [day for day in DAYS if after[day] != many[day]] == [dt.date(2026, 3, 4)]


def test_a_landed_day_is_materialized_until_its_file_changes(pg_env, s3_endpoint, s3_bucket):
    seed_orders(pg_env, ROWS)
    s3 = s3_client(s3_endpoint)
    key = "landing/late.csv"
    s3.put_object(
        Bucket=s3_bucket, Key=key, Body=b"order_id,customer_id,amount,order_date\n50,zoe,7.50,2026-03-01T09:00:00Z\n"
    )
    [landed] = daily_revenue(landed_key=f"s3://{s3_bucket}/{key}", env=pg_env)
    assert landed.outcome == "published" and landed.revenue == Decimal("17.50")

    # The file's ETag is part of the day's fingerprint: the status and the backfill agree
    # the day is current, and the file's order stays in it.
    assert [s.state for s in partition_statuses(pg_env, DAY, DAY)] == ["materialized"]
    [rerun] = backfill(start=DAY.isoformat(), end=DAY.isoformat(), env=pg_env)
    assert rerun.outcome == "up to date"

    # A new version of the file (new ETag), once seen (here by a watcher pass, which
    # registers it), makes the day stale: before it is read (status and the watcher never
    # read a file) and after (by whatever plans next); the backfill merges it.
    s3.put_object(
        Bucket=s3_bucket, Key=key, Body=b"order_id,customer_id,amount,order_date\n50,zoe,9.50,2026-03-01T09:00:00Z\n"
    )
    assert [s.state for s in partition_statuses(pg_env, DAY, DAY)] == ["materialized"]  # not seen yet
    watch_once(environment(pg_env).registry)
    # seen, not read (pending): the day is stale all the same, its file's new version known unread
    assert [(s.state, s.detail) for s in partition_statuses(pg_env, DAY, DAY)] == [
        ("stale", f"landed file s3://{s3_bucket}/{key} replaced (the new version is not read yet)")
    ]
    assert [v.uri for v in environment(pg_env).registry.pending()] == [f"s3://{s3_bucket}/{key}"]
    plan_inputs(environment(pg_env), [DAY])
    assert [(s.state, s.detail) for s in partition_statuses(pg_env, DAY, DAY)] == [
        ("stale", f"landed file s3://{s3_bucket}/{key} replaced")
    ]
    [again] = backfill(start=DAY.isoformat(), end=DAY.isoformat(), env=pg_env)
    assert again.outcome == "published"
    assert published(pg_env, "daily_revenue", DAY)["revenue"].item() == Decimal("19.50")
    assert [s.state for s in partition_statuses(pg_env, DAY, DAY)] == ["materialized"]
