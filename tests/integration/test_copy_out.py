"""``revenue.io.copy_out`` against a real Postgres: the bytes psycopg's own ``Copy`` reads,
a server error mid-stream raised as psycopg raises it, and a pool that stays usable."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from revenue.io.copy_out import copy_csv
from revenue.io.source import OrdersSource

TRICKY = sql.SQL(
    "COPY (SELECT n, CASE WHEN n % 7 = 0 THEN NULL WHEN n % 5 = 0 THEN '' ELSE "
    "'a,b \"q\" ' || chr(10) || 'é€' || n END AS text_value, now() AS at "
    "FROM generate_series(1, 20000) AS n ORDER BY n) TO STDOUT WITH (FORMAT csv, HEADER true)"
)


def _psycopg_copy(url: str, statement: sql.Composable) -> bytes:
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
        with cursor.copy(statement) as copy:
            return b"".join(bytes(block) for block in copy)


def test_copy_csv_reads_the_bytes_psycopg_reads_in_utc(pg_url: str):
    engine = sa.create_engine(pg_url)
    buffer = io.BytesIO()
    with engine.connect() as connection:
        connection.exec_driver_sql("SET TIME ZONE 'Asia/Kolkata'")  # the copy must not depend on it
        connection.commit()
        copy_csv(connection, TRICKY, buffer.write)
        assert connection.exec_driver_sql("SHOW TIME ZONE").scalar() == "Asia/Kolkata"  # SET LOCAL only
    ours, theirs = buffer.getvalue(), _psycopg_copy(pg_url.replace("+psycopg", ""), TRICKY)
    assert ours.split(b"\n", 1)[1][:20] == theirs.split(b"\n", 1)[1][:20]
    drop_clock = lambda data: [line.rsplit(b",", 1)[0] for line in data.split(b"\n")]  # noqa: E731
    assert drop_clock(ours) == drop_clock(theirs)
    assert b"+00\n" in ours and b"+05:30" not in ours  # timestamps came out in UTC, not Kolkata time
    engine.dispose()


def test_an_error_mid_copy_is_raised_and_the_pool_stays_usable(pg_url: str):
    failing = sql.SQL("COPY (SELECT 1 / (n - 15000) FROM generate_series(1, 30000) AS n) TO STDOUT WITH (FORMAT csv)")
    engine = sa.create_engine(pg_url, pool_size=1, max_overflow=0)
    received = io.BytesIO()
    with engine.connect() as connection, pytest.raises(psycopg.errors.DivisionByZero):
        copy_csv(connection, failing, received.write)
    assert received.tell() > 0  # rows before the failing one had arrived
    with engine.connect() as connection:  # the broken connection was discarded, not reused
        assert connection.exec_driver_sql("SELECT 42").scalar() == 42
    engine.dispose()


def test_extract_reads_every_row_and_type_of_the_day(pg_url: str):
    engine = sa.create_engine(pg_url)
    day = dt.date(2025, 3, 9)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE orders (order_id bigint, customer_id text, amount numeric(12, 2), "
            "order_date timestamptz, note text)"
        )
        connection.exec_driver_sql(
            "INSERT INTO orders SELECT n, 'c' || (n %% 50), n * 0.01, "
            "'2025-03-09 00:00:00+00'::timestamptz + n * interval '1 second', "
            "CASE WHEN n %% 3 = 0 THEN NULL ELSE 'x,\"' || n END FROM generate_series(0, 86399) AS n"
        )
        connection.exec_driver_sql(  # the neighbouring days are not read
            "INSERT INTO orders VALUES (-1, 'c', 1, '2025-03-08 23:59:59+00', NULL), "
            "(-2, 'c', 1, '2025-03-10 00:00:00+00', NULL)"
        )
    frame = OrdersSource(engine).extract(day)
    assert len(frame) == 86_400
    assert frame["order_id"].min() == 0 and frame["order_id"].max() == 86_399
    assert Decimal(str(frame["amount"].sum())) == Decimal(sum(range(86_400))) / 100
    assert frame["note"].isna().sum() == 28_800
    assert frame.loc[frame["order_id"] == 1, "note"].item() == 'x,"1'
    first = frame["order_date"].min()
    assert pd.Timestamp(first).tz_convert("UTC") == pd.Timestamp("2025-03-09", tz="UTC")
    engine.dispose()
