"""An order's identity across days: the pure rule (``revenue.transforms.identity``) and how
cleaning applies it (rule 5 of ``revenue.transforms.clean``)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from revenue.transforms.clean import RawPart, all_counted_elsewhere, clean_orders
from revenue.transforms.identity import Move, landed_order_days, no_other_versions, resolve, typed_versions

A, B, C = dt.date(2026, 4, 1), dt.date(2026, 4, 2), dt.date(2026, 4, 3)
URI = "s3://bucket/landing/fix.csv"


def rows(*values: tuple) -> pd.DataFrame:
    return pd.DataFrame(list(values), columns=["order_id", "customer_id", "amount", "order_date", "updated_at"])


def other(order_id: int, day: dt.date, seq: int, latest: bool = True, updated: str | None = None) -> dict:
    return {
        "order_id": order_id,
        "partition_date": day,
        "landing_seq": seq,
        "latest": latest,
        "updated_at": pd.Timestamp(updated, tz="UTC") if updated else pd.NaT,
        "order_date": pd.Timestamp(f"{day} 12:00", tz="UTC") if seq == 0 else pd.NaT,
        "origin": "source db" if seq == 0 else URI,
    }


def others(*versions: dict) -> pd.DataFrame:
    if not versions:
        return no_other_versions()
    frame = pd.DataFrame(list(versions))
    for column in ("updated_at", "order_date"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def survivor(order_id: int, seq: int, updated: str | None, day: dt.date = A) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": [order_id],
            "_seq": [seq],
            "order_date": [pd.Timestamp(f"{day} 10:00", tz="UTC")],
            "updated_at": [pd.Timestamp(updated, tz="UTC") if updated else pd.NaT],
        }
    )


def test_a_later_landing_elsewhere_takes_the_order_and_an_earlier_one_does_not():
    lost = resolve(A, survivor(1, 0, "2026-04-01"), others(other(1, B, 3)), {0: "source db"})
    assert lost.lost == {1: (B, URI)} and lost.moves == (Move(A, 1, B, URI),)

    kept = resolve(A, survivor(1, 5, None), others(other(1, B, 3)), {5: "s3://bucket/later.csv"})
    assert kept.lost == {} and kept.moves == (Move(B, 1, A, "s3://bucket/later.csv"),)


def test_the_source_against_itself_the_newer_updated_at_wins_then_the_later_day():
    newer = resolve(A, survivor(2, 0, "2026-04-01"), others(other(2, B, 0, updated="2026-04-06")), {0: "src"})
    assert newer.lost == {2: (B, "source db")}
    older = resolve(A, survivor(2, 0, "2026-04-09"), others(other(2, B, 0, updated="2026-04-06")), {0: "src"})
    assert older.lost == {} and older.moves == (Move(B, 2, A, "src"),)
    tie = resolve(A, survivor(2, 0, "2026-04-06"), others(other(2, B, 0, updated="2026-04-06")), {0: "src"})
    assert tie.lost == {2: (B, "source db")}, "same updated_at: the later order_date wins"


def test_within_one_landing_the_files_latest_day_wins():
    assert resolve(A, survivor(9, 4, None), others(other(9, C, 4, latest=True)), {4: URI}).lost == {9: (C, URI)}
    assert resolve(A, survivor(9, 4, None), others(other(9, C, 4, latest=False)), {4: URI}).lost == {}


def test_landed_order_days_marks_the_day_of_the_files_newest_valid_version():
    by_day = {
        A: rows((9, "eve", "5.00", "2026-04-01T12:00:00Z", "2026-04-01"), (7, "dee", "1", "2026-04-01T01:00Z", None)),
        C: rows(
            (9, "eve", "6.00", "2026-04-03T12:00:00Z", "2026-04-04"),
            (7, "dee", "not money", "2026-04-03T01:00Z", "2026-04-09"),  # invalid: moves nothing
        ),
    }
    days = landed_order_days(by_day).sort_values(["order_id", "partition_date"]).reset_index(drop=True)
    assert days.to_dict("records") == [
        {"order_id": 7, "partition_date": A, "latest": True},
        {"order_id": 9, "partition_date": A, "latest": False},
        {"order_id": 9, "partition_date": C, "latest": True},
    ]


def test_cleaning_quarantines_an_order_that_counts_elsewhere_and_reports_the_edges():
    day_rows = rows((1, "ann", "100.00", "2026-04-01 10:00", "2026-04-01"), (2, "bob", "20", "2026-04-01 11:00", None))
    parts = [RawPart("source db", 0, day_rows)]
    elsewhere = typed_versions(rows((2, "bob", "25", "2026-04-02 07:00", "2026-04-06")), "source db")
    result = clean_orders(parts, A, pd.concat([elsewhere, others(other(1, C, 3))], ignore_index=True))

    assert list(result.cleaned.order_id) == []
    assert sorted(result.rejected.reason) == [
        "a later version counts on 2026-04-02 (source db)",
        f"a later version counts on 2026-04-03 ({URI})",
    ]
    assert result.moves == (Move(A, 1, C, URI), Move(A, 2, B, "source db"))
    assert all_counted_elsewhere(result), "a day whose orders all moved away publishes zero"


def test_a_day_with_an_invalid_row_and_a_moved_one_is_not_all_counted_elsewhere():
    day_rows = rows((1, "ann", "100.00", "2026-04-01 10:00", None), (3, None, "1", "2026-04-01 11:00", None))
    result = clean_orders([RawPart("source db", 0, day_rows)], A, others(other(1, C, 3)))
    assert len(result.cleaned) == 0 and not all_counted_elsewhere(result)


def test_edges_of_all_versions_point_every_other_day_to_the_latest_versions_day():
    from revenue.transforms.identity import edges_of

    versions = others(
        other(1, A, 0, updated="2026-04-01"),
        other(1, B, 0, updated="2026-04-05"),  # the source's newest
        other(2, A, 0, updated="2026-04-01"),
        other(2, C, 3, latest=False),
        other(2, B, 3, latest=True),  # landing 3's newest of order 2
        other(4, C, 0, updated="2026-04-01"),  # one day only: no edge
    )
    assert edges_of(versions) == [
        Move(A, 1, B, "source db"),
        Move(A, 2, B, URI),
        Move(C, 2, B, URI),
    ]
    assert edges_of(no_other_versions()) == []
