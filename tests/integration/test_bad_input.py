"""Bad input, as the user sees it.

Landed files go through the ``daily_revenue`` flow (``landed_key``) against Postgres and
moto's S3 server: a file that cannot be read fails its run with a message naming the
key and the reason and leaves a marker under ``landing/_errors/``; a readable file with
bad rows publishes its good rows and quarantines the rest with a reason, the file and the
line (``analytics.rejected_orders`` for rows of a day, ``analytics.landed_row_rejects`` for
rows with no usable ``order_date``). Garbage in the source table is exercised on SQLite, which
stores whatever it is given whatever the column's declared type.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import random
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa
from botocore.exceptions import ClientError

from flows.daily_revenue import daily_revenue
from revenue.io.environment import environment
from revenue.io.orders_table import create_orders_table
from revenue.io.warehouse.ledger import read_ledger
from tests.integration.conftest import s3_client
from tests.integration.helpers import lake_object_key, published, seed_orders

HEADER = "order_id,customer_id,amount,order_date\n"
GOOD_CSV = (HEADER + "900,zoe,40.00,2026-03-20T10:00:00Z\n901,yann,2.25,2026-03-20 11:30:00\n").encode()


# --------------------------------------------------------------------------- helpers


def land(s3, bucket: str, key: str, data: bytes) -> str:
    """Put ``data`` under the landing prefix; returns the event's resource id."""
    s3.put_object(Bucket=bucket, Key=f"landing/{key}", Body=data)
    return f"s3://{bucket}/landing/{key}"


def error_marker(s3, bucket: str, key: str) -> dict | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=f"landing/_errors/{key}.error.json")["Body"].read()
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    return json.loads(body)


def by_order_id(frame: pd.DataFrame) -> dict[str, pd.Series]:
    return {row.order_id: row for row in frame.itertuples(index=False)}


def lake_cleaned(s3, bucket: str, config: str, day: str) -> pd.DataFrame:
    key = lake_object_key(config, "cleaned_orders", dt.date.fromisoformat(day))
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return pd.read_parquet(io.BytesIO(body))


def empty_source(config: str, rows: list[tuple] | None = None) -> None:
    """The orders table exists (a landed file is merged over the day's source rows)."""
    seed_orders(config, rows or [])


# --------------------------------------------------------------------------- unreadable files


UNREADABLE = {
    # key: (bytes, what the reason must say)
    "blank.csv": (b"\n   \n\t\n", "empty file"),
    "zero.csv": (b"", "empty file (0 bytes)"),
    "garbage.csv": (random.Random(7).randbytes(4096), "not CSV or Parquet"),
    "truncated.csv.gz": (gzip.compress(GOOD_CSV * 50)[:60], "truncated or corrupt gzip"),
    "no-amount.csv": (
        b"order_id,customer_id,order_date\n1,alice,2026-03-20T10:00:00Z\n",
        "missing required column(s) amount",
    ),
    "all-too-many-fields.csv": (
        (HEADER + "1,Smith, John,10.00,2026-03-20T10:00:00Z\n2,Doe, Jane,3.00,2026-03-20T11:00:00Z\n").encode(),
        "no usable rows: 2 row(s) with the wrong number of fields (header has 4): line 2 has 5, line 3 has 5",
    ),
    "no-usable-dates.csv": (
        (HEADER + "1,alice,10.00,01/03/2026\n2,bob,3.00,\n").encode(),
        "no row has a usable order_date",
    ),
}


def test_unreadable_files_fail_naming_the_key_and_reason_and_do_not_stop_a_good_file(pg_env, s3_endpoint, s3_bucket):
    s3 = s3_client(s3_endpoint)
    empty_source(pg_env)

    for key, (data, reason) in UNREADABLE.items():
        uri = land(s3, s3_bucket, key, data)
        state = daily_revenue(landed_key=uri, env=pg_env, return_state=True)

        assert state.is_failed(), key
        assert uri in state.message, state.message
        assert reason in state.message, state.message
        marker = error_marker(s3, s3_bucket, key)
        assert marker is not None, f"no error marker for {key}"
        assert marker["uri"] == uri
        assert reason in marker["reason"], marker
        assert marker["etag"] == s3.head_object(Bucket=s3_bucket, Key=f"landing/{key}")["ETag"].strip('"')
        # the original stays where it landed, untouched
        assert s3.get_object(Bucket=s3_bucket, Key=f"landing/{key}")["Body"].read() == data

    assert published(pg_env, "daily_revenue").empty
    assert published(pg_env, "customer_daily_spend").empty

    # the next file is processed as if nothing had happened
    uri = land(s3, s3_bucket, "good.csv", GOOD_CSV)
    [outcome] = daily_revenue(landed_key=uri, env=pg_env)
    assert outcome.outcome == "published"
    assert published(pg_env, "daily_revenue").to_dict(orient="records") == [
        {"order_date": dt.date(2026, 3, 20), "revenue": Decimal("42.25"), "order_count": 2}
    ]
    assert error_marker(s3, s3_bucket, "good.csv") is None


# --------------------------------------------------------------------------- readable oddities


def test_extra_columns_quoted_commas_bom_and_cp1252_publish_values_verbatim(pg_env, s3_endpoint, s3_bucket):
    s3 = s3_client(s3_endpoint)
    empty_source(pg_env)
    files = {
        "extra-columns.csv": (
            "order_id,customer_id,amount,order_date,channel,coupon\n"
            "1,alice,10.50,2026-03-01T10:00:00Z,web,SPRING\n"
            "2,bob,4.25,2026-03-01 11:00:00,app,\n"
        ).encode(),
        "quoted.csv": (
            HEADER
            + '3,"Smith, John",20.00,2026-03-02T09:00:00Z\n'
            + '4,"say ""hi""",1.00,2026-03-02T10:00:00Z\n'
            + '5,"two\nlines",0.50,2026-03-02T11:00:00Z\n'
        ).encode(),
        "bom.csv": b"\xef\xbb\xbf" + (HEADER + "6,carol,7.00,2026-03-03T08:00:00Z\n").encode(),
        "cp1252.csv": (HEADER + "7,José Müller,8.00,2026-03-04T08:00:00Z\n8,Zoë,1.10,2026-03-04T09:00:00Z\n").encode(
            "cp1252"
        ),
    }
    for key, data in files.items():
        uri = land(s3, s3_bucket, key, data)
        state = daily_revenue(landed_key=uri, env=pg_env, return_state=True)
        assert state.is_completed(), f"{key}: {state.message}"
        assert error_marker(s3, s3_bucket, key) is None, key

    revenue = published(pg_env, "daily_revenue")
    assert revenue.to_dict(orient="records") == [
        {"order_date": dt.date(2026, 3, 1), "revenue": Decimal("14.75"), "order_count": 2},
        {"order_date": dt.date(2026, 3, 2), "revenue": Decimal("21.50"), "order_count": 3},
        {"order_date": dt.date(2026, 3, 3), "revenue": Decimal("7.00"), "order_count": 1},
        {"order_date": dt.date(2026, 3, 4), "revenue": Decimal("9.10"), "order_count": 2},
    ]
    spend = published(pg_env, "customer_daily_spend")
    assert sorted(zip(spend.customer_id, spend.daily_spend)) == sorted(
        [
            ("alice", Decimal("10.50")),
            ("bob", Decimal("4.25")),
            ("Smith, John", Decimal("20.00")),
            ('say "hi"', Decimal("1.00")),
            ("two\nlines", Decimal("0.50")),
            ("carol", Decimal("7.00")),
            ("José Müller", Decimal("8.00")),
            ("Zoë", Decimal("1.10")),
        ]
    )
    assert published(pg_env, "rejected_orders").empty

    # extra columns are carried through to the cleaned lake file
    cleaned = lake_cleaned(s3, s3_bucket, pg_env, "2026-03-01")
    assert "coupon" in cleaned.columns
    coupons = dict(zip(cleaned.order_id, cleaned.coupon))
    assert coupons[1] == "SPRING" and pd.isna(coupons[2])
    assert dict(zip(cleaned.order_id, cleaned.channel)) == {1: "web", 2: "app"}


# --------------------------------------------------------------------------- partly bad files


PARTLY_BAD = (
    HEADER
    + "10,alice,10.00,2026-03-05T01:00:00Z\n"
    + "11,bob,1e400,2026-03-05T02:00:00Z\n"
    + "12,carol,NaN,2026-03-05T03:00:00Z\n"
    + '13,dave,"12,50",2026-03-05T04:00:00Z\n'
    + "14,erin,abc,2026-03-05T05:00:00Z\n"
    + "15,frank,2.50,2026-03-05T23:59:59.999Z\n"
    + "16,,3.00,2026-03-05T07:00:00Z\n"
    + '17,"   ",3.00,2026-03-05T08:00:00Z\n'
    + "18,gina,,2026-03-05T09:00:00Z\n"
    + "20,hank,5.00,2026-03-05T23:30:00-02:00\n"  # 2026-03-06 01:30 UTC
    + "21,ivy,-1.25,2026-03-06T12:00:00+00:00\n"  # a refund: kept
    + "22,jack,0.10,2026-03-06 00:00:00\n"
    + "23,kim,abc,2026-03-06T13:00:00Z\n"
    + "30,lea,9.00,01/03/2026\n"
    + "31,max,9.00,1970-01-01T00:00:00Z\n"
    + "32,ned,9.00,9999-12-31\n"
    + "33,oli,9.00,\n"
    + "34,pat,9.00,2026-02-30\n"
    + "35,quin,9.00,yesterday\n"
)


def test_a_partly_bad_file_publishes_its_good_rows_and_quarantines_the_rest_with_reasons(
    pg_env, s3_endpoint, s3_bucket
):
    s3 = s3_client(s3_endpoint)
    empty_source(pg_env)
    uri = land(s3, s3_bucket, "partly-bad.csv", PARTLY_BAD.encode())

    state = daily_revenue(landed_key=uri, env=pg_env, return_state=True)
    assert state.is_completed(), state.message
    outcomes = {o.partition: o for o in state.result()}
    assert set(outcomes) == {"2026-03-05", "2026-03-06"}  # no partition for 1970 or 9999

    # by hand: 03-05 keeps 10 (10.00) and 15 (2.50); 03-06 keeps 20 (5.00), 21 (-1.25), 22 (0.10)
    assert published(pg_env, "daily_revenue").to_dict(orient="records") == [
        {"order_date": dt.date(2026, 3, 5), "revenue": Decimal("12.50"), "order_count": 2},
        {"order_date": dt.date(2026, 3, 6), "revenue": Decimal("3.85"), "order_count": 3},
    ]
    spend = published(pg_env, "customer_daily_spend")
    assert sorted(zip(spend.order_date.astype(str), spend.customer_id, spend.daily_spend)) == [
        ("2026-03-05", "alice", Decimal("10.00")),
        ("2026-03-05", "frank", Decimal("2.50")),
        ("2026-03-06", "hank", Decimal("5.00")),
        ("2026-03-06", "ivy", Decimal("-1.25")),
        ("2026-03-06", "jack", Decimal("0.10")),
    ]
    assert outcomes["2026-03-05"].rejected_count == 7 and outcomes["2026-03-06"].rejected_count == 1

    rejected = published(pg_env, "rejected_orders")
    reasons = {(str(r.partition_date), r.order_id): r.reason for r in rejected.itertuples(index=False)}
    assert reasons == {
        ("2026-03-05", "11"): "amount outside +-1,000,000,000,000,000",
        ("2026-03-05", "12"): "amount is not a finite number",
        ("2026-03-05", "13"): "amount is not a finite number",
        ("2026-03-05", "14"): "amount is not a finite number",
        ("2026-03-05", "16"): "null customer_id",
        ("2026-03-05", "17"): "null customer_id",
        ("2026-03-05", "18"): "null amount",
        ("2026-03-06", "23"): "amount is not a finite number",
    }
    records = {r.order_id: json.loads(r.record) for r in rejected.itertuples(index=False)}
    assert records["11"]["amount"] == "1e400"  # the raw value, as landed
    assert records["12"]["amount"] == "NaN"
    assert records["13"]["amount"] == "12,50"
    assert records["14"]["amount"] == "abc"
    assert records["17"]["customer_id"] == "   "

    # every quarantined row names the file and its line
    assert set(rejected["origin"]) == {uri}
    assert dict(zip(rejected.order_id, rejected.line))["11"] == 3

    # rows no day can take are quarantined with the file's landing, a line and a reason each
    # (a readable file gets no error marker)
    assert error_marker(s3, s3_bucket, "partly-bad.csv") is None
    registry = environment(pg_env).registry
    [version] = registry.current_files(dt.date(2026, 3, 5), dt.date(2026, 3, 5))[dt.date(2026, 3, 5)]
    unassigned = {row.order_id: row for row in registry.rejects_of(version).itertuples(index=False)}
    assert {k: v.reason for k, v in unassigned.items()} == {
        "30": "order_date is not a timestamp",
        "31": "order_date outside accepted range 2000-01-01..2099-12-31",
        "32": "order_date outside accepted range 2000-01-01..2099-12-31",
        "33": "null order_date",
        "34": "order_date is not a timestamp",
        "35": "order_date is not a timestamp",
    }
    assert json.loads(unassigned["30"].record)["order_date"] == "01/03/2026"
    assert json.loads(unassigned["32"].record)["order_date"] == "9999-12-31"
    assert unassigned["30"].line == 15  # the file's 15th line (its 14th data row)

    # the ledger tells the same story
    ledger = {
        (r.dataset, str(r.partition_date)): r
        for r in read_ledger(environment(pg_env).warehouse, dt.date(2026, 3, 5), dt.date(2026, 3, 6))
    }
    assert ledger[("cleaned_orders", "2026-03-05")].rejected_count == 7
    assert ledger[("cleaned_orders", "2026-03-06")].status == "warned"  # the refund


def test_duplicate_ids_in_a_file_keep_the_newest(pg_env, s3_endpoint, s3_bucket):
    s3 = s3_client(s3_endpoint)
    empty_source(pg_env, [(40, "alice", 99.00, "2026-03-07 10:00:00", "2026-03-07 23:00:00")])  # the file wins
    data = (
        "order_id,customer_id,amount,order_date,updated_at\n"
        "40,alice,10.00,2026-03-07T10:00:00Z,2026-03-07T10:00:00Z\n"
        "40,alice,12.00,2026-03-07T10:00:00Z,2026-03-07T11:00:00Z\n"  # newer: kept
        "41,bob,5.00,2026-03-07T09:00:00Z,2026-03-07T12:00:00Z\n"  # newer, though earlier in the file: kept
        "41,bob,6.00,2026-03-07T09:00:00Z,2026-03-07T09:30:00Z\n"
        "42,carol,1.00,2026-03-07T07:00:00Z,\n"
        "42,carol,2.00,2026-03-07T07:00:00Z,\n"  # no version, same date: the later row is kept
    ).encode()
    uri = land(s3, s3_bucket, "dupes.csv", data)

    state = daily_revenue(landed_key=uri, env=pg_env, return_state=True)

    assert state.is_completed(), state.message
    # 12.00 + 5.00 + 2.00; the source's version of order 40 (99.00) is replaced by the file
    assert published(pg_env, "daily_revenue").to_dict(orient="records") == [
        {"order_date": dt.date(2026, 3, 7), "revenue": Decimal("19.00"), "order_count": 3}
    ]
    spend = published(pg_env, "customer_daily_spend")
    assert dict(zip(spend.customer_id, spend.daily_spend)) == {"alice": 12, "bob": 5, "carol": 2}
    rejected = published(pg_env, "rejected_orders")
    assert sorted(zip(rejected.order_id, rejected.reason)) == [
        ("40", "duplicate order_id (a newer row was kept)"),
        ("40", f"replaced by landed file {uri}"),
        ("41", "duplicate order_id (a newer row was kept)"),
        ("42", "duplicate order_id (a newer row was kept)"),
    ]
    kept_out = {(r.order_id, r.origin): json.loads(r.record)["amount"] for r in rejected.itertuples(index=False)}
    source = [o for o in rejected.origin if not o.startswith("s3://")][0]
    assert kept_out == {("40", uri): "10.00", ("40", source): "99.00", ("41", uri): "6.00", ("42", uri): "1.00"}


def test_a_file_with_updated_at_merges_over_the_days_other_source_rows(pg_env, s3_endpoint, s3_bucket):
    """The orders contract has ``updated_at``: a file carrying it lands on a day that also
    has source rows it does not replace; both must be published."""
    s3 = s3_client(s3_endpoint)
    empty_source(
        pg_env,
        [
            (50, "alice", 99.00, "2026-03-08 10:00:00", "2026-03-08 10:00:00"),  # replaced by the file
            (51, "dave", 3.00, "2026-03-08 08:00:00", "2026-03-08 08:00:00"),  # not in the file: kept
        ],
    )
    data = (
        "order_id,customer_id,amount,order_date,updated_at\n"
        "50,alice,12.00,2026-03-08T10:00:00Z,2026-03-08T11:00:00Z\n"
        "52,bob,5.00,2026-03-08T09:00:00Z,2026-03-08T09:00:00Z\n"
    ).encode()
    uri = land(s3, s3_bucket, "with-updated-at.csv", data)

    state = daily_revenue(landed_key=uri, env=pg_env, return_state=True)

    assert state.is_completed(), state.message
    assert published(pg_env, "daily_revenue").to_dict(orient="records") == [
        {"order_date": dt.date(2026, 3, 8), "revenue": Decimal("20.00"), "order_count": 3}
    ]
    spend = published(pg_env, "customer_daily_spend")
    assert dict(zip(spend.customer_id, spend.daily_spend)) == {"alice": 12, "bob": 5, "dave": 3}
    rejected = published(pg_env, "rejected_orders")
    assert rejected[["order_id", "reason"]].values.tolist() == [["50", f"replaced by landed file {uri}"]]


# --------------------------------------------------------------------------- garbage in the source table


def test_garbage_source_rows_are_quarantined_and_the_rest_published(sqlite_env):
    engine = environment(sqlite_env).source.engine
    create_orders_table(engine, replace=True)
    rows = [
        # order_id, customer_id, amount, order_date, updated_at
        (1, "alice", "10.00", "2026-03-01 09:00:00", None),
        (2, "bob", "abc", "2026-03-01 09:10:00", None),
        (3, "carol", "12,50", "2026-03-01 09:20:00", None),
        (4, "dave", "1e400", "2026-03-01 09:30:00", None),
        (5, None, "5.00", "2026-03-01 09:40:00", None),
        (6, "   ", "5.00", "2026-03-01 09:50:00", None),
        (7, "erin", "2.50", "2026-03-01 23:59:59.999", None),  # last instant of the day
        (8, "frank", "3.00", "2026-03-01 23:30:00-02:00", None),  # 2026-03-02 01:30 UTC
        (9, "gina", "4.00", "2026-03-01T00:15:00+01:00", None),  # 2026-02-28 23:15 UTC
        (10, "hank", "6.00", "2026-03-01 00:00:00", None),  # first instant of the day
        (11, "ivy", "7.00", "2026-03-01 12:00:00", "2026-03-01 12:00:00"),
        (11, "ivy", "8.00", "2026-03-01 12:00:00", "2026-03-01 13:00:00"),  # newer: kept
        (11, "ivy", "9.00", "2026-03-01 12:00:00", "2026-03-01 11:00:00"),
        (12, "jack", "100.00", "2026-03-02 00:00:00", None),  # the next day
        (13, "kate", None, "2026-03-01 14:00:00", None),
        (14, "liam", "1.25", "2026-03-01 10:00:00+02:00", None),  # 08:00 UTC, same day
        (15, "mia", "NaN", "2026-03-01 15:00:00", None),
    ]
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO orders (order_id, customer_id, amount, order_date, updated_at, channel) "
                "VALUES (:id, :customer, :amount, :date, :updated, 'web')"
            ),
            [dict(id=r[0], customer=r[1], amount=r[2], date=r[3], updated=r[4] or r[3]) for r in rows],
        )
    environment(sqlite_env).source._columns = None

    [outcome] = daily_revenue(partition_date="2026-03-01", env=sqlite_env)

    # by hand: 1 (10.00) + 7 (2.50) + 10 (6.00) + 11 newest (8.00) + 14 (1.25)
    assert outcome.outcome == "published"
    assert published(sqlite_env, "daily_revenue").to_dict(orient="records") == [
        {"order_date": dt.date(2026, 3, 1), "revenue": Decimal("27.75"), "order_count": 5}
    ]
    spend = published(sqlite_env, "customer_daily_spend")
    assert dict(zip(spend.customer_id, spend.daily_spend)) == {
        "alice": 10.00,
        "erin": 2.50,
        "hank": 6.00,
        "ivy": 8.00,
        "liam": 1.25,
    }
    rejected = published(sqlite_env, "rejected_orders")
    assert sorted(zip(rejected.order_id, rejected.reason)) == sorted(
        [
            ("2", "amount is not a finite number"),
            ("3", "amount is not a finite number"),
            ("4", "amount is not a finite number"),  # SQLite stores 1e400 as infinity
            ("5", "null customer_id"),
            ("6", "null customer_id"),
            ("8", "order_date outside partition 2026-03-01"),
            ("9", "order_date outside partition 2026-03-01"),
            ("11", "duplicate order_id (a newer row was kept)"),
            ("11", "duplicate order_id (a newer row was kept)"),
            ("13", "null amount"),
            ("15", "amount is not a finite number"),
        ]
    )
    duplicates = sorted(json.loads(r.record)["amount"] for r in rejected.itertuples(index=False) if r.order_id == "11")
    assert duplicates == [7.0, 9.0]
    records = {r.order_id: json.loads(r.record) for r in rejected.itertuples(index=False) if r.order_id != "11"}
    assert records["2"]["amount"] == "abc" and records["3"]["amount"] == "12,50"
    assert records["8"]["order_date"] == "2026-03-01 23:30:00-02:00"
    assert outcome.rejected_count == len(rejected) == 11
