"""Unit tests of the pure transforms: small frames written here, no Prefect engine."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from revenue.transforms.aggregate import customer_daily_spend, daily_revenue
from revenue.transforms.clean import MissingColumnsError, clean_orders
from revenue.transforms.fingerprint import fingerprint

DAY = dt.date(2026, 3, 1)


def orders(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["order_id", "customer_id", "amount", "order_date"])


def test_every_row_is_cleaned_or_quarantined_with_a_reason():
    raw = orders([
        (1, "a", 10.0, "2026-03-01 10:00:00"),
        (None, "b", 5.0, "2026-03-01 10:00:00"),
        (3, None, 5.0, "2026-03-01 10:00:00"),
        (4, "c", None, "2026-03-01 10:00:00"),
        (5, "  ", 5.0, "2026-03-01 10:00:00"),
    ])
    result = clean_orders(raw, DAY)
    assert list(result.cleaned["order_id"]) == ["1"]
    assert len(result.cleaned) + len(result.rejected) == len(raw)
    assert dict(zip(result.rejected["source_row"], result.rejected["reason"])) == {
        1: "null order_id", 2: "null customer_id", 3: "null amount", 4: "null customer_id",
    }
    record = json.loads(result.rejected.loc[result.rejected.source_row == 3, "record"].item())
    assert record == {"order_id": 4, "customer_id": "c", "amount": None, "order_date": "2026-03-01 10:00:00"}


def test_duplicate_order_ids_keep_the_newest_version():
    raw = pd.DataFrame({
        "order_id": [7, 7, 8, 8],
        "customer_id": ["a", "a", "b", "b"],
        "amount": [10.0, 12.0, 3.0, 4.0],
        "order_date": ["2026-03-01 09:00"] * 4,
        "updated_at": ["2026-03-01 09:05", "2026-03-01 09:01", "2026-03-01 10:00", "2026-03-01 11:00"],
    })
    result = clean_orders(raw, DAY)
    kept = dict(zip(result.cleaned["order_id"], result.cleaned["amount"]))
    assert kept == {"7": 10.0, "8": 4.0}
    assert sorted(result.rejected["source_row"]) == [1, 2]
    assert set(result.rejected["reason"]) == {"duplicate order_id (a newer row was kept)"}


def test_duplicates_without_updated_at_keep_the_latest_order_date_then_the_later_row():
    raw = orders([
        (1, "a", 1.0, "2026-03-01 12:00"),
        (1, "a", 2.0, "2026-03-01 08:00"),
        (2, "b", 3.0, "2026-03-01 08:00"),
        (2, "b", 4.0, "2026-03-01 08:00"),
    ])
    kept = clean_orders(raw, DAY).cleaned.set_index("order_id")["amount"].to_dict()
    assert kept == {"1": 1.0, "2": 4.0}


def test_negative_amounts_are_refunds_and_are_kept():
    raw = orders([(1, "a", 10.0, "2026-03-01 01:00"), (2, "a", -4.5, "2026-03-01 02:00")])
    result = clean_orders(raw, DAY)
    assert result.rejected.empty
    revenue = daily_revenue(result.cleaned, DAY)
    assert revenue.to_dict(orient="records") == [{"order_date": DAY, "revenue": 5.5, "order_count": 2}]


@pytest.mark.parametrize("amount", ["12,50", "abc", "1e400", "NaN", "inf", ""])
def test_amounts_that_are_not_finite_numbers_are_quarantined(amount):
    raw = orders([(1, "a", amount, "2026-03-01 01:00"), (2, "b", "3.25", "2026-03-01 01:00")])
    result = clean_orders(raw, DAY)
    assert list(result.cleaned["amount"]) == [3.25]
    assert result.rejected["reason"].item() in ("amount is not a finite number", "null amount")


def test_timezone_edges_around_midnight_utc():
    raw = orders([
        (1, "a", 1.0, "2026-02-28T23:59:59.999999Z"),     # day before
        (2, "a", 2.0, "2026-03-01T00:00:00Z"),            # first instant of the day
        (3, "a", 4.0, "2026-03-01T23:59:59.999999+00:00"),  # last instant
        (4, "a", 8.0, "2026-03-02T00:00:00Z"),            # next day
        (5, "a", 16.0, "2026-03-01T01:30:00+02:00"),       # 23:30 UTC the day before
        (6, "a", 32.0, "2026-02-28T22:30:00-02:00"),       # 00:30 UTC on the day
        (7, "a", 64.0, "not a date"),
    ])
    result = clean_orders(raw, DAY)
    assert sorted(result.cleaned["order_id"]) == ["2", "3", "6"]
    assert str(result.cleaned["order_date"].dt.tz) == "UTC"
    reasons = dict(zip(result.rejected["source_row"], result.rejected["reason"]))
    assert reasons[0] == reasons[3] == reasons[4] == "order_date outside partition 2026-03-01"
    assert reasons[6] == "order_date is not a timestamp"
    assert daily_revenue(result.cleaned, DAY)["revenue"].item() == 38.0


def test_naive_timestamps_are_utc():
    result = clean_orders(orders([(1, "a", 1.0, pd.Timestamp("2026-03-01 00:00:00"))]), DAY)
    assert result.cleaned["order_date"].item() == pd.Timestamp("2026-03-01", tz="UTC")


def test_empty_day_gives_one_zero_row_and_no_spend():
    empty = orders([])
    result = clean_orders(empty, DAY)
    assert result.cleaned.empty and result.rejected.empty
    assert daily_revenue(result.cleaned, DAY).to_dict(orient="records") == [
        {"order_date": DAY, "revenue": 0.0, "order_count": 0}
    ]
    assert customer_daily_spend(result.cleaned, DAY).empty


def test_extra_columns_are_carried_through():
    raw = orders([(1, "a", 1.0, "2026-03-01 05:00")]).assign(channel="web", coupon=None)
    cleaned = clean_orders(raw, DAY).cleaned
    assert list(cleaned.columns) == ["order_id", "customer_id", "amount", "order_date", "channel", "coupon"]
    assert cleaned["channel"].item() == "web"


def test_missing_required_column_names_it_and_the_partition():
    with pytest.raises(MissingColumnsError, match=r"2026-03-01.*customer_id"):
        clean_orders(pd.DataFrame({"order_id": [1], "amount": [1.0], "order_date": ["2026-03-01"]}), DAY)


def test_integer_float_ids_are_normalised_to_text():
    raw = orders([(1.0, 10.0, 1.0, "2026-03-01 05:00"), (np.nan, 11.0, 1.0, "2026-03-01 05:00")])
    result = clean_orders(raw, DAY)
    assert list(result.cleaned["order_id"]) == ["1"]
    assert list(result.cleaned["customer_id"]) == ["10"]


def test_customer_daily_spend_by_hand():
    raw = orders([
        (1, "a", 10.0, "2026-03-01 01:00"), (2, "b", 2.5, "2026-03-01 02:00"),
        (3, "a", -3.0, "2026-03-01 03:00"), (4, "b", 0.25, "2026-03-01 04:00"),
        (5, "c", 7.1, "2026-03-01 05:00"),
    ])
    spend = customer_daily_spend(clean_orders(raw, DAY).cleaned, DAY)
    assert spend.to_dict(orient="records") == [
        {"order_date": DAY, "customer_id": "a", "daily_spend": 7.0, "order_count": 2},
        {"order_date": DAY, "customer_id": "b", "daily_spend": 2.75, "order_count": 2},
        {"order_date": DAY, "customer_id": "c", "daily_spend": 7.1, "order_count": 1},
    ]


def test_revenue_is_rounded_to_cents_without_float_drift():
    raw = orders([(i, "a", 0.1, "2026-03-01 05:00") for i in range(1000)])
    assert daily_revenue(clean_orders(raw, DAY).cleaned, DAY)["revenue"].item() == 100.0


def test_fingerprint_is_stable_and_sensitive():
    from decimal import Decimal

    base = {"rows": 3, "amount": Decimal("10.50"), "partition": DAY}
    assert fingerprint(base) == fingerprint({"partition": DAY, "amount": 10.5, "rows": 3})
    assert fingerprint(base) != fingerprint({**base, "rows": 4})
    assert fingerprint(base) != fingerprint({**base, "amount": Decimal("10.51")})
    assert len(fingerprint(base)) == 16


def test_landed_rows_replace_source_rows_with_the_same_order_id():
    from revenue.transforms.merge import merge_landed_rows

    source = pd.DataFrame({"order_id": [1, 2, 3], "customer_id": ["a", "b", "c"], "amount": [1.0, 2.0, 3.0],
                           "order_date": ["2026-03-01 01:00"] * 3})
    first = pd.DataFrame({"order_id": ["2", "4"], "customer_id": ["b", "d"], "amount": ["20", "4"],
                          "order_date": ["2026-03-01 02:00"] * 2})
    second = pd.DataFrame({"order_id": ["4"], "customer_id": ["d"], "amount": ["40"], "order_date": ["2026-03-01 03:00"]})
    merged = merge_landed_rows(source, [first, second])
    cleaned = clean_orders(merged, DAY).cleaned.set_index("order_id")["amount"].to_dict()
    assert cleaned == {"1": 1.0, "3": 3.0, "2": 20.0, "4": 40.0}
    assert len(merged) == 4
