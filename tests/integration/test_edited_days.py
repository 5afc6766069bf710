"""A day changed behind the pipeline's back is not current (issue 24, observation 2).

A published day whose totals were changed in SQL (a bad manual fix, a restore of one
table, a second writer) is shown as stale with what differs, is recomputed by the next
plain run (no cache hit) and by a backfill (not skipped), and a cache hit reports the
numbers the warehouse holds, not the ones its cached result remembers. Against Postgres,
moto's S3 server and Prefect's engine.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import sqlalchemy as sa

from flows.backfill import backfill
from flows.daily_revenue import daily_revenue
from revenue.backfill_plan import preview
from revenue.grid import render_text
from revenue.io.environment import environment
from revenue.status import partition_statuses
from tests.integration.helpers import published, seed_orders

DAY = dt.date(2026, 4, 1)
SOURCE = [
    (1, "alice", 10.00, "2026-04-01 08:00:00"),
    (2, "bob", 20.00, "2026-04-01 09:00:00"),
    (3, "carol", 30.00, "2026-04-01 10:00:00"),
]
RIGHT = (Decimal("60.00"), 3)
RIGHT_SPEND = {"alice": Decimal("10.00"), "bob": Decimal("20.00"), "carol": Decimal("30.00")}


def revenue_of(config: str) -> tuple[Decimal, int]:
    rows = published(config, "daily_revenue", DAY)
    return Decimal(str(rows["revenue"].item())), int(rows["order_count"].item())


def spend_of(config: str) -> dict[str, Decimal]:
    rows = published(config, "customer_daily_spend", DAY)
    return {customer: Decimal(str(spend)) for customer, spend in zip(rows["customer_id"], rows["daily_spend"])}


def edit(pg_url: str, statement: str) -> None:
    """A change made in SQL, outside the pipeline."""
    engine = sa.create_engine(pg_url)
    with engine.begin() as connection:
        connection.execute(sa.text(statement))
    engine.dispose()


def publish_the_day(config: str):
    seed_orders(config, SOURCE)
    [first] = daily_revenue(partition_date=DAY.isoformat(), config=config)
    assert first.outcome == "published" and revenue_of(config) == RIGHT
    return first


def test_a_revenue_edited_in_sql_is_stale_with_what_differs_and_the_next_run_publishes_it_again(pg_env, pg_url):
    publish_the_day(pg_env)
    edit(pg_url, "UPDATE analytics.daily_revenue SET revenue = 1.00")

    [status] = partition_statuses(pg_env, DAY, DAY)
    assert status.state == "stale", status
    assert status.detail == "daily_revenue.revenue 1.00 differs from the published 60.00 (edited outside the pipeline?)"
    assert status.detail in render_text([status])  # the grid's line for the day says it too

    [again] = daily_revenue(partition_date=DAY.isoformat(), config=pg_env)
    assert again.outcome == "published"  # not a cache hit that keeps the wrong number
    assert (again.revenue, again.order_count) == RIGHT
    assert revenue_of(pg_env) == RIGHT
    assert [s.state for s in partition_statuses(pg_env, DAY, DAY)] == ["materialized"]
    [cached] = daily_revenue(partition_date=DAY.isoformat(), config=pg_env)
    assert (cached.outcome, cached.revenue, cached.order_count) == ("cache hit", *RIGHT)


def test_a_customer_spend_edited_in_sql_is_stale_and_a_backfill_does_not_skip_it(pg_env, pg_url):
    publish_the_day(pg_env)
    edit(pg_url, "UPDATE analytics.customer_daily_spend SET daily_spend = daily_spend + 1 WHERE customer_id = 'bob'")

    [status] = partition_statuses(pg_env, DAY, DAY)
    assert status.state == "stale", status
    assert status.detail == (
        "customer_daily_spend.daily_spend sums to 61.00, not the published 60.00 (edited outside the pipeline?)"
    )
    [planned] = preview(environment(pg_env), DAY, DAY)
    assert planned.action == "compute" and status.detail in planned.reason

    [again] = daily_revenue(partition_date=DAY.isoformat(), config=pg_env)
    assert again.outcome == "published"
    assert spend_of(pg_env) == RIGHT_SPEND and revenue_of(pg_env) == RIGHT

    edit(pg_url, "UPDATE analytics.customer_daily_spend SET order_count = order_count + 1 WHERE customer_id = 'bob'")
    [status] = partition_statuses(pg_env, DAY, DAY)
    assert (status.state, status.detail) == (
        "stale",
        "customer_daily_spend.order_count sums to 4, not the published 3 (edited outside the pipeline?)",
    )
    [skipped_or_not] = backfill(start=DAY.isoformat(), end=DAY.isoformat(), config=pg_env)
    assert skipped_or_not.outcome == "published"  # not "up to date"
    assert int(published(pg_env, "customer_daily_spend", DAY)["order_count"].sum()) == 3


def test_a_consistent_edit_of_both_tables_still_differs_from_what_was_published(pg_env, pg_url):
    """Both tables edited alike agree with each other, not with the ledger's record."""
    publish_the_day(pg_env)
    edit(pg_url, "UPDATE analytics.daily_revenue SET revenue = revenue + 5, order_count = order_count + 1")
    edit(
        pg_url,
        "UPDATE analytics.customer_daily_spend SET daily_spend = daily_spend + 5, order_count = order_count + 1 "
        "WHERE customer_id = 'carol'",
    )
    [status] = partition_statuses(pg_env, DAY, DAY)
    assert status.state == "stale"
    assert status.detail == (
        "daily_revenue.revenue 65.00 differs from the published 60.00; "
        "daily_revenue.order_count 4 differs from the published 3; "
        "customer_daily_spend.daily_spend sums to 65.00, not the published 60.00; "
        "customer_daily_spend.order_count sums to 4, not the published 3 (edited outside the pipeline?)"
    )
    [again] = daily_revenue(partition_date=DAY.isoformat(), config=pg_env)
    assert again.outcome == "published" and revenue_of(pg_env) == RIGHT and spend_of(pg_env) == RIGHT_SPEND


def test_a_cache_hit_reports_the_warehouses_numbers_not_its_cached_result(pg_env):
    """The cached result of the day is made to disagree with the warehouse (as a result
    written by another version of the pipeline would): the cache hit reports what the
    warehouse holds."""
    from prefect._internal.result_records import ResultRecord

    first = publish_the_day(pg_env)
    results = environment(pg_env).store("results")
    key = f"compute_partition-{DAY}-{first.fingerprint}"
    record = ResultRecord.deserialize(results.get(key))
    assert record.result.revenue == RIGHT[0]  # the key is the day's cached result
    wrong = replace(record.result, revenue=Decimal("999.99"), order_count=99)
    results.put(key, record.model_copy(update={"result": wrong}).serialize())

    [cached] = daily_revenue(partition_date=DAY.isoformat(), config=pg_env)
    assert cached.outcome == "cache hit"
    assert (cached.revenue, cached.order_count) == RIGHT == revenue_of(pg_env)
