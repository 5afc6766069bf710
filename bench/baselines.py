"""Baselines measured in the same run, on the same rows.

- ``textbook_pipeline`` (own process): the plain-pandas pipeline as the textbook writes it:
  ``pd.read_sql`` of the day through SQLAlchemy, ``dropna`` of the required columns, newest
  version per ``order_id`` with ``sort_values`` + ``drop_duplicates``, ``groupby`` for the
  per-customer spend, ``sum`` for the revenue, and ``DataFrame.to_sql`` of the results. No
  quality gates, no lake, no ledger, no quarantine.
- ``sql_floor``: Postgres computing the same daily revenue with one ``GROUP BY`` over the
  newest valid version of each order (``DISTINCT ON``): the floor for the aggregate, since no
  order row leaves the database.

Both apply the pipeline's rule for a duplicated ``order_id`` (among valid rows, the greatest
``updated_at`` wins, then the greatest ``order_date``), so every revenue must agree.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Row
    from sqlalchemy.engine import Engine

from bench.child import memory_snapshot, quiet_child

READ_SQL = "SELECT * FROM orders WHERE order_date >= :s AND order_date < :e"

REQUIRED = ["order_id", "customer_id", "amount", "order_date"]

SQL_FLOOR = """
SELECT (date_trunc('day', order_date AT TIME ZONE 'UTC'))::date AS day,
       round(sum(amount), 2)::float8 AS revenue,
       count(*) AS order_count
FROM (
    SELECT DISTINCT ON (order_id) order_id, amount, order_date
    FROM orders
    WHERE order_date >= :s AND order_date < :e
      AND order_id IS NOT NULL AND customer_id IS NOT NULL AND amount IS NOT NULL
    ORDER BY order_id, updated_at DESC NULLS LAST, order_date DESC NULLS LAST
) AS newest
GROUP BY 1
ORDER BY 1
"""


def bounds(first: dt.date, last: dt.date | None = None) -> dict[str, dt.datetime]:
    start = dt.datetime.combine(first, dt.time(0), tzinfo=dt.timezone.utc)
    end = dt.datetime.combine(last or first, dt.time(0), tzinfo=dt.timezone.utc) + dt.timedelta(days=1)
    return {"s": start, "e": end}


def _textbook_once(engine: Engine, day: dt.date) -> dict[str, Any]:
    """One run of the textbook pipeline on ``day``."""
    import pandas as pd
    import sqlalchemy as sa

    clock = time.perf_counter
    started = clock()
    with engine.connect() as connection:
        frame = pd.read_sql(sa.text(READ_SQL), connection, params=bounds(day))
    extracted = clock()
    rows = len(frame)
    frame["amount"] = frame["amount"].astype("float64")
    frame = frame.dropna(subset=REQUIRED)
    frame = frame.sort_values(["updated_at", "order_date"]).drop_duplicates("order_id", keep="last")
    revenue = round(float(frame["amount"].sum()), 2)
    order_count = len(frame)
    spend = frame.groupby("customer_id")["amount"].agg(daily_spend="sum", order_count="count").reset_index()
    spend["daily_spend"] = spend["daily_spend"].round(2)
    spend.insert(0, "order_date", day)
    daily = pd.DataFrame({"order_date": [day], "revenue": [revenue], "order_count": [order_count]})
    transformed = clock()
    suffix = day.strftime("%Y%m%d")
    daily.to_sql(f"daily_revenue_{suffix}", engine, schema="bench_textbook", if_exists="replace", index=False)
    spend.to_sql(f"customer_daily_spend_{suffix}", engine, schema="bench_textbook", if_exists="replace", index=False)
    written = clock()
    return {
        "seconds": {
            "read_sql": round(extracted - started, 6),
            "transform": round(transformed - extracted, 6),
            "to_sql": round(written - transformed, 6),
        },
        "total_s": round(written - started, 6),
        "raw_rows": rows,
        "revenue": revenue,
        "order_count": order_count,
        "customers": len(spend),
    }


def textbook_pipeline(pg_url: str, day_iso: str, rounds: int) -> dict[str, Any]:
    """The textbook pipeline, ``rounds`` times, each round paired with the pipeline's own
    extract (``OrdersSource.extract``) of the same day in this same process, so the
    extract speedup compares two reads taken seconds apart under the same load. Round 1
    runs the textbook pipeline first, in a process that has read nothing yet: its peak RSS
    is the textbook's; later rounds alternate which read goes first."""
    quiet_child()
    memory: dict[str, Any] = {"start": memory_snapshot()}
    import pandas as pd  # noqa: F401
    import sqlalchemy as sa

    from revenue.io.source import OrdersSource

    memory["after_imports"] = memory_snapshot()
    day = dt.date.fromisoformat(day_iso)
    engine = sa.create_engine(pg_url)
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS bench_textbook")
        connection.commit()
    source = OrdersSource(engine, table="orders")
    source.columns()
    memory["before_partition"] = memory_snapshot()
    runs, extracts = [], []

    def pipeline_extract() -> None:
        started = time.perf_counter()
        frame = source.extract(day)
        extracts.append({"extract_s": round(time.perf_counter() - started, 6), "rows": len(frame)})

    for number in range(rounds):
        if number % 2 == 1:
            pipeline_extract()
        runs.append(_textbook_once(engine, day))
        if number == 0:
            memory["after_textbook"] = memory_snapshot()
            memory["partition_delta_mb"] = round(
                memory["after_textbook"]["peak_rss_mb"] - memory["before_partition"]["rss_mb"], 1
            )
        if number % 2 == 0:
            pipeline_extract()
    engine.dispose()
    pairs = [
        {
            "read_sql_s": run["seconds"]["read_sql"],
            "extract_s": ext["extract_s"],
            "speedup": round((ext["rows"] / ext["extract_s"]) / (run["raw_rows"] / run["seconds"]["read_sql"]), 4),
        }
        for run, ext in zip(runs, extracts)
    ]
    ordered = sorted(runs, key=lambda r: r["seconds"]["read_sql"])
    speedups = sorted(p["speedup"] for p in pairs)
    extract_times = sorted(e["extract_s"] for e in extracts)
    return {
        "median": ordered[(len(ordered) - 1) // 2],
        "runs": runs,
        "rounds": rounds,
        "paired_extract": {
            "pairs": pairs,
            "median_speedup": speedups[(len(speedups) - 1) // 2],
            "median_extract_s": extract_times[(len(extract_times) - 1) // 2],
            "rows": extracts[0]["rows"],
        },
        "memory": {**memory, "end": memory["after_textbook"]},
        "memory_note": "peak RSS read after round 1's textbook run, before any pipeline extract",
        "amount_dtype_note": "pd.read_sql coerce_float=True turns numeric into float64",
    }


def sql_floor(pg_url: str, first: dt.date, last: dt.date | None = None, repeats: int = 3) -> dict[str, Any]:
    """Daily revenue of ``[first, last]`` computed by Postgres; the median wall of ``repeats``."""
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
            walls: list[float] = []
            rows: Sequence[Row[Any]] = []
            for _ in range(repeats):
                started = time.perf_counter()
                rows = connection.execute(sa.text(SQL_FLOOR), bounds(first, last)).all()
                walls.append(time.perf_counter() - started)
            connection.rollback()
    finally:
        engine.dispose()
    walls.sort()
    return {
        "wall_s": round(walls[(len(walls) - 1) // 2], 6),
        "wall_samples_s": [round(w, 6) for w in walls],
        "days": {
            row.day.isoformat(): {"revenue": float(row.revenue), "order_count": int(row.order_count)} for row in rows
        },
    }


def warm_day(pg_url: str, first: dt.date, last: dt.date | None = None) -> None:
    """Read the days' rows once in Postgres so every pipeline finds the same warm cache."""
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as connection:
            connection.execute(
                sa.text(
                    "SELECT count(*), sum(amount), max(length(customer_id)), max(updated_at) FROM orders "
                    "WHERE order_date >= :s AND order_date < :e"
                ),
                bounds(first, last),
            ).all()
            connection.rollback()
    finally:
        engine.dispose()
