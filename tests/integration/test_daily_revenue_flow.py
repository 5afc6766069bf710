"""The daily_revenue flow through Prefect's engine on the embedded default (SQLite +
local directories): published tables against values computed by hand."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pandas as pd

from flows.backfill import backfill
from flows.daily_revenue import daily_revenue
from revenue.io.environment import environment
from revenue.io.lake import read_partition
from revenue.io.warehouse.ledger import read_ledger
from testkit.counting import rows_read
from tests.integration.helpers import published, seed_orders

DAY1, DAY2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)

ROWS = [
    # order_id, customer_id, amount, order_date, updated_at
    (1, "alice", 10.00, "2026-03-01 00:00:00", "2026-03-01 00:00:00"),
    (2, "bob", 5.50, "2026-03-01 12:00:00", "2026-03-01 12:00:00"),
    (2, "bob", 6.50, "2026-03-01 12:00:00", "2026-03-01 13:00:00"),  # newer version wins
    (3, "alice", -2.25, "2026-03-01 23:59:59", "2026-03-01 23:59:59"),  # refund
    (4, None, 99.00, "2026-03-01 08:00:00", "2026-03-01 08:00:00"),  # quarantined
    (None, "carol", 7.00, "2026-03-01 09:00:00", "2026-03-01 09:00:00"),  # quarantined
    (5, "carol", 4.00, "2026-03-02 00:00:00", "2026-03-02 00:00:00"),  # next day
    (6, "dave", 1.25, "2026-03-02 10:30:00", "2026-03-02 10:30:00"),
]


def test_publishes_the_day_as_computed_by_hand(sqlite_env):
    seed_orders(sqlite_env, ROWS)
    [outcome] = daily_revenue(partition_date="2026-03-01", env=sqlite_env)

    assert outcome.outcome == "published"
    # 10.00 + 6.50 - 2.25 = 14.25 from orders 1, 2 (newest), 3
    assert published(sqlite_env, "daily_revenue").to_dict(orient="records") == [
        {"order_date": DAY1, "revenue": 14.25, "order_count": 3}
    ]
    assert published(sqlite_env, "customer_daily_spend").to_dict(orient="records") == [
        {"order_date": DAY1, "customer_id": "alice", "daily_spend": 7.75, "order_count": 2},
        {"order_date": DAY1, "customer_id": "bob", "daily_spend": 6.50, "order_count": 1},
    ]
    rejected = published(sqlite_env, "rejected_orders")
    assert sorted(rejected["reason"]) == [
        "duplicate order_id (a newer row was kept)",
        "null customer_id",
        "null order_id",
    ]
    assert json.loads(rejected.loc[rejected.reason == "null customer_id", "record"].item())["amount"] == 99.0

    ledger = {row.dataset: row for row in read_ledger(environment(sqlite_env).warehouse, DAY1, DAY1)}
    assert set(ledger) == {"raw_orders", "cleaned_orders", "daily_revenue", "customer_daily_spend"}
    assert ledger["raw_orders"].row_count == 6
    assert ledger["cleaned_orders"].row_count == 3 and ledger["cleaned_orders"].rejected_count == 3
    assert ledger["cleaned_orders"].status == "warned"  # the refund is a warning-level finding
    assert {r.published_fingerprint for r in ledger.values()} == {outcome.fingerprint}

    env = environment(sqlite_env)
    assert read_partition(env, "daily_revenue", DAY1)["revenue"].tolist() == [14.25]
    cleaned = read_partition(env, "cleaned_orders", DAY1)
    assert sorted(cleaned["order_id"]) == [1, 2, 3]  # the contract's 64-bit integer ids
    assert cleaned.loc[cleaned.order_id == 2, "amount"].item() == Decimal("6.50")


def test_second_run_is_a_cache_hit_and_changes_nothing(sqlite_env):
    seed_orders(sqlite_env, ROWS)
    [first] = daily_revenue(partition_date="2026-03-01", env=sqlite_env)
    tables_before = {t: published(sqlite_env, t) for t in ("daily_revenue", "customer_daily_spend", "rejected_orders")}
    extracted = rows_read()

    [second] = daily_revenue(partition_date="2026-03-01", env=sqlite_env)

    assert second.outcome == "cache hit"
    assert second.fingerprint == first.fingerprint
    assert rows_read() == extracted, "a cache hit read order rows"
    for table, before in tables_before.items():
        pd.testing.assert_frame_equal(published(sqlite_env, table), before)

    [forced] = daily_revenue(partition_date="2026-03-01", env=sqlite_env, force=True)
    assert forced.outcome == "published"
    assert rows_read() == extracted + 6
    pd.testing.assert_frame_equal(published(sqlite_env, "daily_revenue"), tables_before["daily_revenue"])


def test_a_late_order_recomputes_only_its_day(sqlite_env):
    seed_orders(sqlite_env, ROWS)
    first = {
        o.partition: o for o in backfill(start="2026-03-01", end="2026-03-02", env=sqlite_env, skip_up_to_date=False)
    }
    assert first["2026-03-02"].revenue == 5.25

    seed_orders(sqlite_env, [(7, "erin", 100.0, "2026-03-01 18:00:00", "2026-03-03 01:00:00")], replace=False)
    second = {
        o.partition: o for o in backfill(start="2026-03-01", end="2026-03-02", env=sqlite_env, skip_up_to_date=False)
    }

    assert second["2026-03-01"].outcome == "published"
    assert second["2026-03-02"].fingerprint == first["2026-03-02"].fingerprint, (first, second)
    assert second["2026-03-02"].outcome == "cache hit"
    assert second["2026-03-01"].fingerprint != first["2026-03-01"].fingerprint
    assert published(sqlite_env, "daily_revenue").to_dict(orient="records") == [
        {"order_date": DAY1, "revenue": 114.25, "order_count": 4},
        {"order_date": DAY2, "revenue": 5.25, "order_count": 2},
    ]
