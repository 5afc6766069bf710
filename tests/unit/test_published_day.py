"""``PublishedDay.edited``: what a day's tables hold that its publish did not write, compared
exactly (no database: the rows are written here)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from revenue.io.warehouse.ledger import LedgerRow, PublishedDay

DAY = dt.date(2026, 4, 1)
SUFFIX = " (edited outside the pipeline?)"


def ledger_row(dataset: str, revenue: Decimal | None, orders: int | None) -> LedgerRow:
    return LedgerRow(
        dataset=dataset,
        partition_date=DAY,
        status="materialized",
        fingerprint="f",
        source_fingerprint="s",
        input_files="[]",
        input_moves="[]",
        row_count=None,
        rejected_count=None,
        rejected_reasons=None,
        gate_status="materialized",
        gate_summary=None,
        lake_uri=None,
        duration_ms=None,
        run_id="r",
        error=None,
        attempted_at=dt.datetime(2026, 4, 2, tzinfo=dt.timezone.utc),
        published_fingerprint="f",
        published_at=dt.datetime(2026, 4, 2, tzinfo=dt.timezone.utc),
        published_revenue=revenue,
        published_order_count=orders,
    )


def day(recorded: tuple[Decimal | None, int | None], revenue: str, orders: int, spend: str, spend_orders: int):
    return PublishedDay(
        partition=DAY,
        ledger={
            "cleaned_orders": ledger_row("cleaned_orders", None, None),
            "daily_revenue": ledger_row("daily_revenue", *recorded),
        },
        table_fingerprint="f",
        table_order_count=orders,
        spend_order_count=spend_orders,
        table_revenue=Decimal(revenue),
        spend_revenue=Decimal(spend),
    )


RECORDED = (Decimal("60.00"), 3)


def test_a_day_as_published_is_held():
    published = day(RECORDED, "60.00", 3, "60.00", 3)
    assert published.edited() == "" and published.holds("f")
    assert not published.holds("g")


def test_a_cent_is_a_difference():
    published = day(RECORDED, "60.01", 3, "60.00", 3)
    assert published.edited() == "daily_revenue.revenue 60.01 differs from the published 60.00" + SUFFIX
    assert not published.holds("f")


def test_an_older_ledger_without_totals_checks_the_tables_against_each_other():
    assert day((None, None), "61.00", 3, "61.00", 3).edited() == ""
    assert day((None, None), "61.00", 4, "61.00", 3).edited() == (
        "customer_daily_spend.order_count sums to 3, not daily_revenue.order_count 4" + SUFFIX
    )


def test_a_day_whose_rows_are_gone_is_not_an_edit():
    gone = replace(day(RECORDED, "60.00", 3, "0.00", 0), table_revenue=None, table_order_count=None)
    assert gone.edited() == "" and not replace(gone, table_fingerprint=None).holds("f")
