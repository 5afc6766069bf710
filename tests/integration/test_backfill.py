"""Backfill and partition status through Prefect's engine on the embedded default."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from flows.backfill import backfill
from flows.daily_revenue import daily_revenue
from revenue.demo_data import generate_orders
from revenue.grid import render_text
from revenue.io.environment import environment
from revenue.io.orders_table import create_orders_table, load_orders
from revenue.io.warehouse.ledger import read_ledger
from revenue.status import partition_statuses
from testkit.counting import rows_read
from tests.integration.helpers import published, seed_orders

START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 10)


def load_demo(config: str, orders_per_day: int = 40) -> pd.DataFrame:
    engine = environment(config).source.engine
    orders = generate_orders(START, END, orders_per_day, seed=11)
    create_orders_table(engine, replace=True)
    load_orders(engine, orders)
    environment(config).source._columns = None
    return orders


def all_published(config: str) -> dict[str, pd.DataFrame]:
    return {
        t: published(config, t).sort_values(list(published(config, t).columns[:2])).reset_index(drop=True)
        for t in ("daily_revenue", "customer_daily_spend", "rejected_orders")
    }


def test_ten_day_backfill_publishes_what_ten_single_runs_publish(sqlite_env, second_sqlite_env):
    load_demo(sqlite_env)
    load_demo(second_sqlite_env)
    outcomes = backfill(start=START.isoformat(), end=END.isoformat(), env=sqlite_env, max_concurrency=4)
    assert [o.outcome for o in outcomes] == ["published"] * 10
    for offset in range(10):
        daily_revenue(partition_date=(START + dt.timedelta(days=offset)).isoformat(), env=second_sqlite_env)

    ours, theirs = all_published(sqlite_env), all_published(second_sqlite_env)
    for table in ours:
        assert len(ours[table]) > 0
        pd.testing.assert_frame_equal(ours[table], theirs[table], obj=table)
    assert len(ours["daily_revenue"]) == 10


def test_rerun_skips_everything_reads_no_rows_and_a_late_order_recomputes_its_day_only(sqlite_env):
    load_demo(sqlite_env)
    first = {o.partition: o for o in backfill(start=START.isoformat(), end=END.isoformat(), env=sqlite_env)}
    read_before = rows_read()

    rerun = backfill(start=START.isoformat(), end=END.isoformat(), env=sqlite_env)
    assert [o.outcome for o in rerun] == ["up to date"] * 10
    assert rows_read() == read_before, "a skipped partition read order rows"

    statuses = partition_statuses(sqlite_env, START, END)
    assert rows_read() == read_before, "status read order rows"
    assert {s.state for s in statuses} <= {"materialized", "warned"}

    seed_orders(sqlite_env, [(999_999, "late", 123.45, "2026-03-04 18:00:00")], replace=False)
    assert [s.state for s in partition_statuses(sqlite_env, START, END)][3] == "stale"
    late = backfill(start=START.isoformat(), end=END.isoformat(), env=sqlite_env)
    assert {o.partition: o.outcome for o in late if o.outcome != "up to date"} == {"2026-03-04": "published"}
    day4 = published(sqlite_env, "daily_revenue", dt.date(2026, 3, 4))
    assert day4["order_count"].item() == first["2026-03-04"].order_count + 1
    assert day4["revenue"].item() == first["2026-03-04"].revenue + Decimal("123.45")
    assert "late" in set(published(sqlite_env, "customer_daily_spend", dt.date(2026, 3, 4))["customer_id"])


def test_a_failing_day_shows_failed_in_the_grid_while_the_others_publish(sqlite_env):
    load_demo(sqlite_env)
    # every order of 2026-03-06 is invalid: the cleaned_orders gate fails critically
    engine = environment(sqlite_env).source.engine
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE orders SET customer_id = NULL WHERE order_date >= '2026-03-06' AND order_date < '2026-03-07'"
        )
    state = backfill(start=START.isoformat(), end=END.isoformat(), env=sqlite_env, return_state=True)

    assert state.is_failed()
    assert state.message.startswith("2026-03-06 failed: quality gate failed for cleaned_orders partition 2026-03-06")
    assert state.message.endswith("(1 of 10 partitions failed)")
    days = set(published(sqlite_env, "daily_revenue")["order_date"])
    assert days == {START + dt.timedelta(days=i) for i in range(10)} - {dt.date(2026, 3, 6)}

    statuses = {s.partition: s.state for s in partition_statuses(sqlite_env, START, END)}
    assert statuses[dt.date(2026, 3, 6)] == "failed"
    grid = render_text(list(partition_statuses(sqlite_env, START, END)))
    assert "06X" in grid and "X failed 1" in grid

    this_run = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]))
    with get_client(sync_client=True) as client:
        keys = {a.key: a for a in sorted(client.read_artifacts(artifact_filter=this_run), key=lambda a: a.created)}
    grid = keys["partition-status"].data
    assert (
        re.search(r"\| 2026-03-02 \| (🟩|🟨) 02 · \d+ \|", grid) and "| 🟥 06 |" in grid
    )  # 40 orders: refunds may pass 5%
    assert "| 2026-03-06 | 🟥 failed | quality gate failed for cleaned_orders partition 2026-03-06" in grid
    assert keys["backfill-progress"].data == 100.0


def test_a_multi_run_backfill_without_the_backfill_deployment_says_how_to_get_it(sqlite_env):
    """The test harness has no deployments: the parent plans, then stops at the first chunk
    with what to do, computing nothing (the multi-run itself is tests/e2e/test_deployments.py)."""
    seed_orders(sqlite_env, [(1, "a", 10.0, "2026-03-01 10:00:00"), (2, "b", 20.0, "2026-03-02 10:00:00")])
    state = backfill(start="2026-03-01", end="2026-03-03", env=sqlite_env, partitions_per_run=2, return_state=True)
    assert state.is_failed()
    assert "backfill/range deployment, which this Prefect API does not have" in state.message
    assert "prefect deploy --all" in state.message
    assert read_ledger(environment(sqlite_env).warehouse, dt.date(2026, 3, 1), dt.date(2026, 3, 3)) == []
    with pytest.raises(ValueError, match="partitions_per_run must be 0"):
        backfill(start="2026-03-01", end="2026-03-03", env=sqlite_env, partitions_per_run=-1)
