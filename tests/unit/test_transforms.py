"""Unit tests of the pure transforms: small frames written here, no Prefect engine."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from revenue.contract import MissingColumnsError
from revenue.transforms.aggregate import customer_daily_spend, daily_revenue, with_money
from revenue.transforms.clean import RawPart, clean_orders
from revenue.transforms.fingerprint import RowHashes, fingerprint

DAY = dt.date(2026, 3, 1)


def orders(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["order_id", "customer_id", "amount", "order_date"])


def clean(frame: pd.DataFrame, *files: pd.DataFrame):
    """Clean the source rows ``frame`` with landed ``files`` on top (landing 1, 2, ...)."""
    parts = [RawPart("source test/orders", 0, frame)]
    parts += [RawPart(f"s3://bucket/landing/{n}.csv", n, rows) for n, rows in enumerate(files, start=1)]
    return clean_orders(parts, DAY)


def landed(rows: list[tuple], first_line: int = 2) -> pd.DataFrame:
    """A landed file's rows as read: every value text, indexed by the file's line."""
    frame = orders(rows).astype("str")
    frame.index = pd.Index(range(first_line, first_line + len(rows)), name="line")
    return frame


def test_every_row_is_cleaned_or_quarantined_with_a_reason():
    raw = orders(
        [
            (1, "a", 10.0, "2026-03-01 10:00:00"),
            (None, "b", 5.0, "2026-03-01 10:00:00"),
            (3, None, 5.0, "2026-03-01 10:00:00"),
            (4, "c", None, "2026-03-01 10:00:00"),
            (5, "  ", 5.0, "2026-03-01 10:00:00"),
        ]
    )
    result = clean(raw)
    assert list(result.cleaned["order_id"]) == [1]
    assert len(result.cleaned) + len(result.rejected) == len(raw)
    assert dict(zip(result.rejected["line"], result.rejected["reason"])) == {
        2: "null order_id",
        3: "null customer_id",
        4: "null amount",
        5: "null customer_id",
    }
    assert set(result.rejected["origin"]) == {"source test/orders"}
    record = json.loads(result.rejected.loc[result.rejected.line == 4, "record"].item())
    assert record == {"order_id": 4.0, "customer_id": "c", "amount": None, "order_date": "2026-03-01 10:00:00"}


def test_duplicate_order_ids_keep_the_newest_version():
    raw = pd.DataFrame(
        {
            "order_id": [7, 7, 8, 8],
            "customer_id": ["a", "a", "b", "b"],
            "amount": [10.0, 12.0, 3.0, 4.0],
            "order_date": ["2026-03-01 09:00"] * 4,
            "updated_at": ["2026-03-01 09:05", "2026-03-01 09:01", "2026-03-01 10:00", "2026-03-01 11:00"],
        }
    )
    result = clean(raw)
    kept = dict(zip(result.cleaned["order_id"], result.cleaned["amount_cents"]))
    assert kept == {7: 1000, 8: 400}
    assert sorted(result.rejected["line"]) == [2, 3]
    assert set(result.rejected["reason"]) == {"duplicate order_id (a newer row was kept)"}


def test_duplicates_without_updated_at_keep_the_latest_order_date_then_the_later_row():
    files = landed(
        [
            ("1", "a", "1.0", "2026-03-01 12:00"),
            ("1", "a", "2.0", "2026-03-01 08:00"),
            ("2", "b", "3.0", "2026-03-01 08:00"),
            ("2", "b", "4.0", "2026-03-01 08:00"),
        ]
    )
    kept = clean(orders([]), files).cleaned.set_index("order_id")["amount_cents"].to_dict()
    assert kept == {1: 100, 2: 400}


def test_exact_ties_in_the_source_are_broken_by_value_not_by_extract_order():
    rows = [(9, "a", 1.0, "2026-03-01 08:00"), (9, "b", 2.0, "2026-03-01 08:00")]
    forwards = clean(orders(rows)).cleaned
    backwards = clean(orders(rows[::-1])).cleaned
    assert (
        forwards[["order_id", "customer_id"]].values.tolist() == backwards[["order_id", "customer_id"]].values.tolist()
    )


def test_negative_amounts_are_refunds_and_are_kept():
    raw = orders([(1, "a", 10.0, "2026-03-01 01:00"), (2, "a", -4.5, "2026-03-01 02:00")])
    result = clean(raw)
    assert result.rejected.empty
    revenue = daily_revenue(result.cleaned, DAY)
    assert revenue.to_dict(orient="records") == [{"order_date": DAY, "revenue_cents": 550, "order_count": 2}]


@pytest.mark.parametrize(
    "amount, reason",
    [
        ("12,50", "amount is not a finite number"),
        ("abc", "amount is not a finite number"),
        ("NaN", "amount is not a finite number"),
        ("inf", "amount is not a finite number"),
        ("1e400", "amount outside +-1,000,000,000,000,000"),
        ("", "null amount"),
    ],
)
def test_amounts_that_are_not_money_are_quarantined(amount, reason):
    raw = orders([(1, "a", amount, "2026-03-01 01:00"), (2, "b", "3.25", "2026-03-01 01:00")])
    result = clean(raw)
    assert list(result.cleaned["amount_cents"]) == [325]
    assert result.rejected["reason"].item() == reason


def test_timezone_edges_around_midnight_utc():
    raw = orders(
        [
            (1, "a", 1.0, "2026-02-28T23:59:59.999999Z"),  # day before
            (2, "a", 2.0, "2026-03-01T00:00:00Z"),  # first instant of the day
            (3, "a", 4.0, "2026-03-01T23:59:59.999999+00:00"),  # last instant
            (4, "a", 8.0, "2026-03-02T00:00:00Z"),  # next day
            (5, "a", 16.0, "2026-03-01T01:30:00+02:00"),  # 23:30 UTC the day before
            (6, "a", 32.0, "2026-02-28T22:30:00-02:00"),  # 00:30 UTC on the day
            (7, "a", 64.0, "not a date"),
        ]
    )
    result = clean(raw)
    assert sorted(result.cleaned["order_id"]) == [2, 3, 6]
    assert str(result.cleaned["order_date"].dt.tz) == "UTC"
    reasons = dict(zip(result.rejected["line"], result.rejected["reason"]))
    assert reasons[1] == reasons[4] == reasons[5] == "order_date outside partition 2026-03-01"
    assert reasons[7] == "order_date is not a timestamp"
    assert daily_revenue(result.cleaned, DAY)["revenue_cents"].item() == 3800


def test_naive_timestamps_are_utc():
    result = clean(orders([(1, "a", 1.0, pd.Timestamp("2026-03-01 00:00:00"))]))
    assert result.cleaned["order_date"].item() == pd.Timestamp("2026-03-01", tz="UTC")


def test_empty_day_gives_one_zero_row_and_no_spend():
    result = clean(orders([]))
    assert result.cleaned.empty and result.rejected.empty
    assert daily_revenue(result.cleaned, DAY).to_dict(orient="records") == [
        {"order_date": DAY, "revenue_cents": 0, "order_count": 0}
    ]
    assert customer_daily_spend(result.cleaned, DAY).empty


def test_extra_columns_are_carried_through():
    raw = orders([(1, "a", 1.0, "2026-03-01 05:00")]).assign(channel="web", coupon=None)
    cleaned = clean(raw).cleaned
    assert list(cleaned.columns) == ["order_id", "customer_id", "amount_cents", "order_date", "channel", "coupon"]
    assert cleaned["channel"].item() == "web"


def test_missing_required_column_names_the_origin_and_the_partition():
    with pytest.raises(MissingColumnsError, match=r"source test/orders: partition 2026-03-01.*customer_id"):
        clean(pd.DataFrame({"order_id": [1], "amount": [1.0], "order_date": ["2026-03-01"]}))


def test_integer_float_ids_are_normalised():
    raw = orders([(1.0, 10.0, 1.0, "2026-03-01 05:00"), (np.nan, 11.0, 1.0, "2026-03-01 05:00")])
    result = clean(raw)
    assert list(result.cleaned["order_id"]) == [1]
    assert list(result.cleaned["customer_id"]) == ["10"]


def test_a_customer_written_123_point_0_in_a_file_is_the_source_customer_123():
    source = orders([(1, "123", 10.0, "2026-03-01 05:00")])
    file = landed([("2", "123.0", "5.00", "2026-03-01 06:00"), ("3", " 123 ", "1.00", "2026-03-01 07:00")])
    spend = customer_daily_spend(clean(source, file).cleaned, DAY)
    assert spend[["customer_id", "daily_spend_cents", "order_count"]].values.tolist() == [["123", 1600, 3]]


def test_an_order_id_the_contract_cannot_hold_is_quarantined_naming_file_and_line():
    file = landed(
        [
            ("A-1001", "a", "5.00", "2026-03-01 06:00"),
            ("1002", "b", "1.00", "2026-03-01 07:00"),
            ("12.5", "c", "1.00", "2026-03-01 07:00"),
            ("99999999999999999999", "d", "1.00", "2026-03-01 07:00"),
        ]
    )
    result = clean(orders([]), file)
    assert list(result.cleaned["order_id"]) == [1002]
    rejected = result.rejected.set_index("line")
    assert rejected.loc[2, ["origin", "order_id", "reason"]].tolist() == [
        "s3://bucket/landing/1.csv",
        "A-1001",
        "order_id is not a 64-bit integer",
    ]
    assert set(rejected["reason"]) == {"order_id is not a 64-bit integer"}
    assert rejected["landing_seq"].tolist() == [1, 1, 1]


def test_a_later_landing_wins_by_order_id_and_the_replaced_rows_are_quarantined():
    source = orders(
        [(1, "a", 1.0, "2026-03-01 01:00"), (2, "b", 2.0, "2026-03-01 01:00"), (3, "c", 3.0, "2026-03-01 01:00")]
    )
    first = landed([("2", "b", "20", "2026-03-01 02:00"), ("4", "d", "4", "2026-03-01 02:00")])
    second = landed([("4", "d", "40", "2026-03-01 03:00")], first_line=7)
    result = clean(source, first, second)
    assert result.cleaned.set_index("order_id")["amount_cents"].to_dict() == {1: 100, 3: 300, 2: 2000, 4: 4000}
    replaced = sorted(zip(result.rejected["origin"], result.rejected["line"], result.rejected["reason"]))
    assert replaced == [
        ("s3://bucket/landing/1.csv", 3, "replaced by landed file s3://bucket/landing/2.csv"),
        ("source test/orders", 2, "replaced by landed file s3://bucket/landing/1.csv"),
    ]
    assert len(result.cleaned) + len(result.rejected) == 3 + 2 + 1


def test_a_later_landing_wins_even_with_an_older_updated_at_and_in_any_listing_order():
    first = landed([("5", "e", "1.00", "2026-03-01 02:00")]).assign(updated_at="2026-03-01 09:00")
    second = landed([("5", "e", "2.00", "2026-03-01 02:00")]).assign(updated_at="2026-03-01 08:00")
    parts = [RawPart("source", 0, orders([])), RawPart("b.csv", 7, second), RawPart("a.csv", 3, first)]
    assert clean_orders(parts, DAY).cleaned["amount_cents"].tolist() == [200]  # landing 7 wins


def test_a_row_that_breaks_the_contract_replaces_nothing():
    source = orders([(6, "f", 6.0, "2026-03-01 01:00")])
    file = landed([("6", "f", "abc", "2026-03-01 02:00")])
    result = clean(source, file)
    assert result.cleaned["amount_cents"].tolist() == [600]
    assert result.rejected[["origin", "reason"]].values.tolist() == [
        ["s3://bucket/landing/1.csv", "amount is not a finite number"]
    ]


def test_customer_daily_spend_by_hand():
    raw = orders(
        [
            (1, "a", 10.0, "2026-03-01 01:00"),
            (2, "b", 2.5, "2026-03-01 02:00"),
            (3, "a", -3.0, "2026-03-01 03:00"),
            (4, "b", 0.25, "2026-03-01 04:00"),
            (5, "c", 7.1, "2026-03-01 05:00"),
        ]
    )
    spend = customer_daily_spend(clean(raw).cleaned, DAY)
    assert spend.to_dict(orient="records") == [
        {"order_date": DAY, "customer_id": "a", "daily_spend_cents": 700, "order_count": 2},
        {"order_date": DAY, "customer_id": "b", "daily_spend_cents": 275, "order_count": 2},
        {"order_date": DAY, "customer_id": "c", "daily_spend_cents": 710, "order_count": 1},
    ]


def test_revenue_is_exact_without_float_drift():
    raw = orders([(i, "a", 0.1, "2026-03-01 05:00") for i in range(1000)])
    assert daily_revenue(clean(raw).cleaned, DAY)["revenue_cents"].item() == 10000


def test_money_up_to_1e15_is_exact_and_both_tables_agree():
    file = landed(
        [
            ("1", "whale", "1000000000000000.00", "2026-03-01 01:00"),
            ("2", "whale", "0.10", "2026-03-01 02:00"),
            ("3", "minnow", "0.07", "2026-03-01 03:00"),
            ("4", "minnow", "-999999999999999.99", "2026-03-01 04:00"),
        ]
    )
    cleaned = clean(orders([]), file).cleaned
    revenue = with_money(daily_revenue(cleaned, DAY))["revenue"].item()
    spend = with_money(customer_daily_spend(cleaned, DAY)).set_index("customer_id")["daily_spend"]
    assert revenue == Decimal("0.18")
    assert spend.to_dict() == {"minnow": Decimal("-999999999999999.92"), "whale": Decimal("1000000000000000.10")}
    assert sum(spend) == revenue


def test_fingerprint_is_stable_and_sensitive():
    base = {"rows": 3, "amount": Decimal("10.50"), "partition": DAY}
    assert fingerprint(base) == fingerprint({"partition": DAY, "amount": 10.5, "rows": 3})
    assert fingerprint(base) != fingerprint({**base, "rows": 4})
    assert fingerprint(base) != fingerprint({**base, "amount": Decimal("10.51")})
    assert len(fingerprint(base)) == 16


def row_hashes(rows: list[tuple]) -> int:
    """What the SQLite aggregate returns for ``rows`` (called as SQLite calls it)."""
    digest = RowHashes()
    for row in rows:
        digest.step(*row)
    return digest.finalize()


def test_row_hashes_ignore_row_order_and_see_every_edit_of_a_value():
    rows = [(1, "alice", 10, "2026-03-01 08:00:00"), (2, "bob", 25, "2026-03-01 09:00:00"), (3, None, 7.5, None)]
    base = row_hashes(rows)
    assert row_hashes(list(reversed(rows))) == base
    assert row_hashes(rows + rows[:1]) != base, "a duplicated row is a change"
    swapped = [(1, "alice", 25, rows[0][3]), (2, "bob", 10, rows[1][3]), rows[2]]
    assert row_hashes(swapped) != base, "amounts swapped between rows"
    moved = [rows[0], (2, "alice", 25, rows[1][3]), rows[2]]
    assert row_hashes(moved) != base, "an order moved to another customer"
    assert -(2**63) <= base < 2**63
    assert row_hashes([]) == 0


def test_row_hashes_tell_null_from_empty_text_and_never_shift_a_value_between_columns():
    assert row_hashes([(1, None, 10)]) != row_hashes([(1, "", 10)])
    assert row_hashes([(1, None, 10), (2, "", 10)]) != row_hashes([(1, "", 10), (2, None, 10)])
    assert row_hashes([(1, "a,b", "c")]) != row_hashes([(1, "a", "b,c")])
    assert row_hashes([(1, "ab", 10), (2, "c", 10)]) != row_hashes([(1, "a", 10), (2, "bc", 10)])
    assert row_hashes([(1, "10", 10)]) != row_hashes([(1, 10, "10")])
    assert row_hashes([(1, None, 10)]) != row_hashes([(1, 0, 10)])


def test_row_hashes_depend_on_values_only_and_stay_the_same_across_processes():
    built = "".join(["ali", "ce"])  # equal to an interned literal, but another object
    assert row_hashes([(1, built, built)]) == row_hashes([(1, "alice", "alice")])
    # pinned: a changed encoding would recompute every SQLite day once (say so if it must)
    assert row_hashes([(1, "alice", 10.5, "2026-03-01 08:00:00", None)]) == 6175130889223527530


def test_totals_past_int64_cents_are_a_data_error_not_a_wrapped_number():
    from revenue.errors import DataError

    file = landed([(str(i), "whale", "1000000000000000", "2026-03-01 01:00") for i in range(100)])
    cleaned = clean(orders([]), file).cleaned
    with pytest.raises(DataError, match="2026-03-01.*too large to sum exactly"):
        customer_daily_spend(cleaned, DAY)
    with pytest.raises(DataError, match="too large to sum exactly"):
        daily_revenue(cleaned, DAY)
    ninety = cleaned.head(90)  # 9e18 cents: fits, summed exactly although n * max does not
    assert customer_daily_spend(ninety, DAY)["daily_spend_cents"].tolist() == [90 * 10**17]
