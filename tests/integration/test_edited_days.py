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
from revenue.io.warehouse.ledger import read_ledger
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
    [first] = daily_revenue(partition_date=DAY.isoformat(), env=config)
    assert first.outcome == "published" and revenue_of(config) == RIGHT
    return first


def test_a_revenue_edited_in_sql_is_stale_with_what_differs_and_the_next_run_publishes_it_again(pg_env, pg_url):
    publish_the_day(pg_env)
    edit(pg_url, "UPDATE analytics.daily_revenue SET revenue = 1.00")

    [status] = partition_statuses(pg_env, DAY, DAY)
    assert status.state == "stale", status
    assert status.detail == "daily_revenue.revenue 1.00 differs from the published 60.00 (edited outside the pipeline?)"
    assert "01~" in render_text([status])  # the grid's cell: stale
    assert "daily_revenue.revenue 1.00 differs from the published 60.00" in render_text([status])  # its line

    [again] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert again.outcome == "published"  # not a cache hit that keeps the wrong number
    assert (again.revenue, again.order_count) == RIGHT
    assert revenue_of(pg_env) == RIGHT
    assert [s.state for s in partition_statuses(pg_env, DAY, DAY)] == ["materialized"]
    [cached] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
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

    [again] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert again.outcome == "published"
    assert spend_of(pg_env) == RIGHT_SPEND and revenue_of(pg_env) == RIGHT

    edit(pg_url, "UPDATE analytics.customer_daily_spend SET order_count = order_count + 1 WHERE customer_id = 'bob'")
    [status] = partition_statuses(pg_env, DAY, DAY)
    assert (status.state, status.detail) == (
        "stale",
        "customer_daily_spend.order_count sums to 4, not the published 3 (edited outside the pipeline?)",
    )
    [skipped_or_not] = backfill(start=DAY.isoformat(), end=DAY.isoformat(), env=pg_env)
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
        "customer_daily_spend.daily_spend sums to 65.00, not the published 60.00; "
        "daily_revenue.order_count 4 differs from the published 3; "
        "customer_daily_spend.order_count sums to 4, not the published 3 (edited outside the pipeline?)"
    )
    [again] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert again.outcome == "published" and revenue_of(pg_env) == RIGHT and spend_of(pg_env) == RIGHT_SPEND


def test_a_cache_hit_reports_the_warehouses_numbers_not_its_cached_result(pg_env):
    """The day's cached result is rewritten to disagree with the warehouse, which still holds
    what was published (the day stays current): the cache hit reports the warehouse's
    numbers, so this fails if it reports the cached ones."""
    from prefect._internal.result_records import ResultRecord

    first = publish_the_day(pg_env)
    results = environment(pg_env).store("results")
    key = f"compute_partition-{DAY}-{first.fingerprint}"
    record = ResultRecord.deserialize(results.get(key))
    assert record.result.revenue == RIGHT[0]  # the key is the day's cached result
    wrong = replace(record.result, revenue=Decimal("999.99"), order_count=99)
    results.put(key, record.model_copy(update={"result": wrong}).serialize())

    [cached] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert cached.outcome == "cache hit"
    assert (cached.revenue, cached.order_count) == RIGHT == revenue_of(pg_env)


def test_a_ledger_of_an_older_version_gains_the_columns_and_its_days_are_checked_table_against_table(pg_env, pg_url):
    """A ledger without the recorded totals (an older version wrote it): the columns are
    added in place, its days stay current while the two tables agree, and one whose tables
    disagree is stale."""
    from revenue.io.environment import forget_environments

    publish_the_day(pg_env)
    edit(
        pg_url,
        "ALTER TABLE analytics.partition_ledger DROP COLUMN published_revenue, DROP COLUMN published_order_count",
    )
    forget_environments()  # the next use creates the tables as a new process would
    [status] = partition_statuses(pg_env, DAY, DAY)
    assert (status.state, status.detail) == ("materialized", "")
    assert {r.published_revenue for r in read_ledger(environment(pg_env).warehouse, DAY, DAY)} == {None}

    edit(pg_url, "UPDATE analytics.daily_revenue SET revenue = 1.00")
    [status] = partition_statuses(pg_env, DAY, DAY)
    assert (status.state, status.detail) == (
        "stale",
        "customer_daily_spend.daily_spend sums to 60.00, not daily_revenue.revenue 1.00 (edited outside the pipeline?)",
    )
    [again] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert again.outcome == "published" and revenue_of(pg_env) == RIGHT
    recorded = read_ledger(environment(pg_env).warehouse, DAY, DAY)
    assert {(r.dataset, r.published_revenue, r.published_order_count) for r in recorded if r.published_revenue} == {
        ("daily_revenue", Decimal("60.00"), 3)
    }


def test_on_sqlite_the_sum_of_customer_spend_is_exact_so_a_large_day_stays_current(sqlite_env):
    """SQLite keeps money as decimal text and sums text as floats: a day whose spend a
    float sum gets wrong (1e15 and cents) is current, and an edit of a cent is seen."""
    from pathlib import Path

    env = environment(sqlite_env)
    seed_orders(sqlite_env, [])
    landing = Path(env.landing.uri().removeprefix("file://"))
    (landing / "big.csv").write_text(
        "order_id,customer_id,amount,order_date\n"
        "1,whale,1000000000000000.00,2026-04-01T01:00:00Z\n"
        "2,whale,0.10,2026-04-01T02:00:00Z\n"
        "3,minnow,0.07,2026-04-01T03:00:00Z\n"
    )
    [outcome] = daily_revenue(landed_key="big.csv", env=sqlite_env)
    assert (outcome.outcome, outcome.revenue) == ("published", Decimal("1000000000000000.17"))
    assert [(s.state, s.detail) for s in partition_statuses(sqlite_env, DAY, DAY)] == [("materialized", "")]

    with env.warehouse.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE customer_daily_spend SET daily_spend = '1000000000000000.11' WHERE customer_id = 'whale'"
        )
    [status] = partition_statuses(sqlite_env, DAY, DAY)
    assert (status.state, status.detail) == (
        "stale",
        "customer_daily_spend.daily_spend sums to 1000000000000000.18, not the published 1000000000000000.17 "
        "(edited outside the pipeline?)",
    )
