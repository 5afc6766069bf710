"""An order counts once, on the day of its latest version, across days and landings.

Of all versions of an ``order_id`` (the source is landing 0, then landed files in landing
order; within one landing the newest by ``updated_at``), the latest decides on which day
the order counts. Whatever moves an order (a landed file, a second landed file, a newer
source row) recomputes the day it moved from in the same run, so the warehouse never
counts an order twice, and ``revenue verify`` applies the same rule by its own path.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from flows.backfill import backfill
from flows.daily_revenue import daily_revenue
from revenue.io.environment import environment
from revenue.status import partition_statuses
from revenue.verify import verify_range
from tests.integration.conftest import s3_client
from tests.integration.helpers import published, seed_orders

A, B, C = dt.date(2026, 4, 1), dt.date(2026, 4, 2), dt.date(2026, 4, 3)
SOURCE = [
    (1, "ann", 100.00, "2026-04-01 10:00:00", "2026-04-01 10:00:00"),
    (2, "bob", 20.00, "2026-04-01 11:00:00", "2026-04-01 11:00:00"),
    (3, "cy", 3.00, "2026-04-02 09:00:00", "2026-04-02 09:00:00"),
]
HEADER = "order_id,customer_id,amount,order_date,updated_at\n"


def revenue_by_day(config: str) -> dict[dt.date, tuple[Decimal, int]]:
    frame = published(config, "daily_revenue")
    return {row.order_date: (row.revenue, int(row.order_count)) for row in frame.itertuples()}


def spend_orders(config: str) -> dict[tuple[dt.date, str], int]:
    frame = published(config, "customer_daily_spend")
    return {(row.order_date, row.customer_id): int(row.order_count) for row in frame.itertuples()}


def land(s3, bucket: str, key: str, body: str) -> str:
    s3.put_object(Bucket=bucket, Key=key, Body=(HEADER + body).encode())
    return f"s3://{bucket}/{key}"


def test_a_landed_date_correction_moves_the_order_and_recomputes_the_day_it_left(pg_env, s3_endpoint, s3_bucket):
    seed_orders(pg_env, SOURCE)
    backfill(start=A.isoformat(), end=B.isoformat(), env=pg_env)
    assert revenue_by_day(pg_env) == {A: (Decimal("120.00"), 2), B: (Decimal("3.00"), 1)}

    # order 1 (100.00 on A in the source) is corrected to day B by a landed file
    uri = land(s3_client(s3_endpoint), s3_bucket, "landing/fix.csv", "1,ann,100.00,2026-04-02T08:00:00Z,2026-04-05\n")
    outcomes = daily_revenue(landed_key=uri, env=pg_env)

    # the landing run recomputed both days: the order counts once, on B
    assert {o.partition: o.outcome for o in outcomes} == {B.isoformat(): "published", A.isoformat(): "published"}
    assert revenue_by_day(pg_env) == {A: (Decimal("20.00"), 1), B: (Decimal("103.00"), 2)}
    assert spend_orders(pg_env) == {(A, "bob"): 1, (B, "ann"): 1, (B, "cy"): 1}
    rejected = published(pg_env, "rejected_orders", A)
    assert list(rejected.order_id) == ["1"] and "2026-04-02" in rejected.reason[0], "moved, not dropped silently"

    # a plain run of A keeps it right; both days are current; verify agrees by its own path
    [rerun] = daily_revenue(partition_date=A.isoformat(), env=pg_env)
    assert rerun.outcome == "cache hit" and rerun.revenue == Decimal("20.00")
    assert [s.state for s in partition_statuses(pg_env, A, B)] == ["materialized", "materialized"]
    assert verify_range(pg_env, A, B) == []


def test_two_landed_files_that_disagree_count_the_order_on_the_later_landings_day(pg_env, s3_endpoint, s3_bucket):
    seed_orders(pg_env, SOURCE)
    backfill(start=A.isoformat(), end=B.isoformat(), env=pg_env)
    s3 = s3_client(s3_endpoint)
    first = land(s3, s3_bucket, "landing/one.csv", "7,dee,40.00,2026-04-01T12:00:00Z,2026-04-01\n")
    daily_revenue(landed_key=first, env=pg_env)
    assert revenue_by_day(pg_env)[A] == (Decimal("160.00"), 3)

    second = land(s3, s3_bucket, "landing/two.csv", "7,dee,40.00,2026-04-03T12:00:00Z,2026-03-01\n")
    outcomes = daily_revenue(landed_key=second, env=pg_env)

    # the later landing wins whatever its updated_at says; A lost the order in the same run
    assert {o.partition for o in outcomes} == {A.isoformat(), C.isoformat()}
    days = revenue_by_day(pg_env)
    assert days[A] == (Decimal("120.00"), 2) and days[C] == (Decimal("40.00"), 1)
    assert sum(orders for _, orders in days.values()) == 4, "orders 1, 2, 3 and 7, each once"
    assert verify_range(pg_env, A, C) == []

    # the first file landed again with new bytes is the latest landing: the order goes back to A
    again = land(s3, s3_bucket, "landing/one.csv", "7,dee,41.00,2026-04-01T12:00:00Z,2026-04-01\n")
    daily_revenue(landed_key=again, env=pg_env)
    days = revenue_by_day(pg_env)
    assert days[A] == (Decimal("161.00"), 3) and days.get(C, (Decimal("0.00"), 0)) == (Decimal("0.00"), 0)
    assert verify_range(pg_env, A, C) == []


def test_a_newer_source_row_on_another_day_moves_the_order(pg_env):
    seed_orders(pg_env, SOURCE)
    backfill(start=A.isoformat(), end=B.isoformat(), env=pg_env)

    # CDC-style: a new version of order 2 with a later updated_at, on day B; the old row stays
    seed_orders(pg_env, [(2, "bob", 25.00, "2026-04-02 07:00:00", "2026-04-06 00:00:00")], replace=False)
    outcomes = daily_revenue(partition_date=B.isoformat(), env=pg_env)

    # the run of B also recomputed A, which the order left
    assert {o.partition for o in outcomes} == {A.isoformat(), B.isoformat()}
    assert revenue_by_day(pg_env) == {A: (Decimal("100.00"), 1), B: (Decimal("28.00"), 2)}
    assert [s.state for s in partition_statuses(pg_env, A, B)] == ["materialized", "materialized"]
    assert verify_range(pg_env, A, B) == []

    # a plain run of A is current, and stays right
    [rerun] = daily_revenue(partition_date=A.isoformat(), env=pg_env)
    assert rerun.outcome == "cache hit" and rerun.revenue == Decimal("100.00")


def test_a_newer_version_on_a_changed_day_makes_the_day_it_left_stale(pg_env):
    """A newer version on day C changes C's rows, not A's. Planning a window searches the
    days that changed since they were published (C) for orders that moved: A is stale,
    saying why, wherever it is planned with C. A run of A alone does not look at other
    days: it keeps A (the order still counts once, on A) until C publishes, and the run
    that publishes C recomputes A."""
    seed_orders(pg_env, [*SOURCE, (4, "dan", 4.00, "2026-04-03 09:00:00", "2026-04-03 09:00:00")])
    backfill(start=A.isoformat(), end=C.isoformat(), env=pg_env)
    seed_orders(pg_env, [(1, "ann", 90.00, "2026-04-03 07:00:00", "2026-04-07 00:00:00")], replace=False)

    [only_a] = daily_revenue(partition_date=A.isoformat(), env=pg_env)
    assert only_a.outcome == "cache hit" and only_a.revenue == Decimal("120.00")
    states = {s.partition: (s.state, s.detail) for s in partition_statuses(pg_env, A, C)}
    assert states == {
        A: ("stale", "order 1 now counts on 2026-04-03"),
        B: ("materialized", ""),
        C: ("stale", "source rows changed"),
    }

    outcomes = backfill(start=A.isoformat(), end=C.isoformat(), env=pg_env)
    assert {o.partition: o.outcome for o in outcomes} == {
        A.isoformat(): "published",
        B.isoformat(): "up to date",
        C.isoformat(): "published",
    }
    assert revenue_by_day(pg_env) == {
        A: (Decimal("20.00"), 1),
        B: (Decimal("3.00"), 1),
        C: (Decimal("94.00"), 2),
    }
    assert {s.state for s in partition_statuses(pg_env, A, C)} == {"materialized"}
    assert verify_range(pg_env, A, C) == []


def test_one_file_with_two_versions_of_an_order_on_two_days_counts_its_newest(pg_env, s3_endpoint, s3_bucket):
    seed_orders(pg_env, SOURCE)
    backfill(start=A.isoformat(), end=B.isoformat(), env=pg_env)
    uri = land(
        s3_client(s3_endpoint),
        s3_bucket,
        "landing/both.csv",
        "9,eve,5.00,2026-04-01T12:00:00Z,2026-04-01T12:00:00Z\n9,eve,6.00,2026-04-03T12:00:00Z,2026-04-04T00:00:00Z\n",
    )
    daily_revenue(landed_key=uri, env=pg_env)
    days = revenue_by_day(pg_env)
    assert days[A] == (Decimal("120.00"), 2) and days[C] == (Decimal("6.00"), 1)
    rejected = published(pg_env, "rejected_orders", A)
    assert list(rejected.order_id) == ["9"] and "2026-04-03" in rejected.reason[0]
    assert verify_range(pg_env, A, C) == []


def test_the_sqlite_default_applies_the_same_rule(sqlite_env):
    seed_orders(sqlite_env, SOURCE)
    backfill(start=A.isoformat(), end=B.isoformat(), env=sqlite_env)
    seed_orders(sqlite_env, [(2, "bob", 25.00, "2026-04-02 07:00:00", "2026-04-06 00:00:00")], replace=False)
    daily_revenue(partition_date=B.isoformat(), env=sqlite_env)
    assert revenue_by_day(sqlite_env) == {A: (Decimal("100.00"), 1), B: (Decimal("28.00"), 2)}
    assert verify_range(sqlite_env, A, B) == []
    assert environment(sqlite_env).warehouse.engine.dialect.name == "sqlite"


def test_status_and_the_plan_name_the_order_that_moved_until_its_old_day_is_recomputed(pg_env):
    """Publishing the day an order moved to (here bare, without the flow that would
    recompute the other day at once) leaves the day it left stale, saying why."""
    from revenue import stages
    from revenue.backfill_plan import preview
    from revenue.io.partition_input import plan_inputs

    seed_orders(pg_env, [*SOURCE, (4, "dan", 4.00, "2026-04-03 09:00:00", "2026-04-03 09:00:00")])
    backfill(start=A.isoformat(), end=C.isoformat(), env=pg_env)
    seed_orders(pg_env, [(1, "ann", 90.00, "2026-04-03 07:00:00", "2026-04-07 00:00:00")], replace=False)
    env = environment(pg_env)
    [on_c] = plan_inputs(env, [C])
    published_c = stages.publish(env, stages.compute(env, on_c), run_id=None)
    assert published_c.displaced == (A.isoformat(),)

    assert [(s.state, s.detail) for s in partition_statuses(pg_env, A, A)] == [
        ("stale", "order 1 now counts on 2026-04-03")
    ]
    [planned_a] = [d for d in preview(env, A, C) if d.partition == A]
    assert planned_a.action == "compute" and "order 1 now counts on 2026-04-03" in planned_a.reason
    assert sum(orders for _, orders in revenue_by_day(pg_env).values()) == 5, "counted twice until A is recomputed"

    backfill(start=A.isoformat(), end=C.isoformat(), env=pg_env)
    assert sum(orders for _, orders in revenue_by_day(pg_env).values()) == 4
    assert verify_range(pg_env, A, C) == []


def test_a_day_whose_only_order_moved_in_place_publishes_zero_but_a_deleted_day_fails(pg_env):
    seed_orders(pg_env, SOURCE[:1] + SOURCE[2:])  # A holds order 1 only; B holds order 3
    backfill(start=A.isoformat(), end=B.isoformat(), env=pg_env)
    source = environment(pg_env).source.engine
    with source.begin() as connection:
        connection.execute(
            sa.text("UPDATE orders SET order_date = :day WHERE order_id = 1"), {"day": "2026-04-02 10:00:00+00"}
        )

    outcomes = backfill(start=A.isoformat(), end=B.isoformat(), env=pg_env)
    assert {o.partition: o.outcome for o in outcomes} == {A.isoformat(): "published", B.isoformat(): "published"}
    assert revenue_by_day(pg_env) == {A: (Decimal("0.00"), 0), B: (Decimal("103.00"), 2)}
    assert verify_range(pg_env, A, B) == []

    with source.begin() as connection:  # B's rows deleted: nothing moved, an empty extract is not news
        connection.execute(sa.text("DELETE FROM orders"))
    state = daily_revenue(partition_date=B.isoformat(), env=pg_env, return_state=True)
    assert state.is_failed() and "raw_orders" in state.message
    states = {s.partition: s.state for s in partition_statuses(pg_env, A, B)}
    assert states[B] == "failed" and revenue_by_day(pg_env)[B] == (Decimal("103.00"), 2)
