"""The Dagster pipeline this project replaces, as its seed document writes it: a baseline
for the benchmark, run as a whole process on the same rows.

Three daily-partitioned assets, ``raw_orders -> cleaned_orders -> daily_revenue``, the day
read with ``pd.read_sql``; two asset checks, ``raw_orders_not_empty`` (ERROR, blocking) and
``no_negative_amounts`` (WARN); each partition materialized with ``dagster.materialize`` on
an on-disk instance (``DAGSTER_HOME``), so runs, events and the assets' pickled values are
stored as a Dagster deployment stores them. ``daily_revenue`` is also written to Postgres
(``bench_dagster.daily_revenue``) so the benchmark can check it against ours. The cleaning
rules are the ones the pipeline applies to the demo orders (drop rows missing a required
column, newest version of each order), so the numbers must agree.

    python -m bench.dagster_baseline --database-url URL --start 2026-01-01 --end 2026-01-30

Prints one JSON line: partitions, wall seconds inside the process, and each day's revenue and
order count. Needs the ``bench`` extra (``uv sync --extra bench``).
"""

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg
    from sqlalchemy.engine import Engine


def build(database_url: str, first: str, last: str | None = None) -> "tuple[list[dg.AssetsDefinition], Engine]":
    import dagster as dg
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    # Daily partitions end yesterday (UTC), whatever ``end_date`` says; a long benchmark range
    # (365 days from 2026-01-01) can reach past today: ``end_offset`` adds the days up to ``last``.
    today = dt.datetime.now(dt.timezone.utc).date()
    ahead = 0 if last is None else max(0, (dt.date.fromisoformat(last) - today).days + 1)
    partitions = dg.DailyPartitionsDefinition(start_date=first, end_offset=ahead)

    # The checks run inside their assets (``check_specs``): a separate ``@asset_check`` that
    # takes a partitioned asset as input loads every partition of it, not the one run.
    @dg.asset(
        partitions_def=partitions,
        check_specs=[dg.AssetCheckSpec("raw_orders_not_empty", asset="raw_orders", blocking=True)],
    )
    def raw_orders(context: dg.AssetExecutionContext) -> Iterator[dg.Output[pd.DataFrame] | dg.AssetCheckResult]:
        day = dt.date.fromisoformat(context.partition_key)
        start = dt.datetime.combine(day, dt.time(0), tzinfo=dt.timezone.utc)
        with engine.connect() as connection:
            frame = pd.read_sql(
                sa.text("SELECT * FROM orders WHERE order_date >= :s AND order_date < :e"),
                connection,
                params={"s": start, "e": start + dt.timedelta(days=1)},
            )
        yield dg.Output(frame)
        yield dg.AssetCheckResult(
            check_name="raw_orders_not_empty",
            passed=len(frame) > 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"rows": len(frame)},
        )

    @dg.asset(partitions_def=partitions, check_specs=[dg.AssetCheckSpec("no_negative_amounts", asset="cleaned_orders")])
    def cleaned_orders(raw_orders: pd.DataFrame) -> Iterator[dg.Output[pd.DataFrame] | dg.AssetCheckResult]:
        frame = raw_orders.dropna(subset=["order_id", "customer_id", "amount", "order_date"])
        frame = frame.assign(amount=frame["amount"].astype("float64"))
        frame = frame.sort_values(["updated_at", "order_date"]).drop_duplicates("order_id", keep="last")
        yield dg.Output(frame)
        negative = int((frame["amount"] < 0).sum())
        yield dg.AssetCheckResult(
            check_name="no_negative_amounts",
            passed=negative == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"negative": negative},
        )

    @dg.asset(partitions_def=partitions)
    def daily_revenue(context: dg.AssetExecutionContext, cleaned_orders: pd.DataFrame) -> pd.DataFrame:
        day = dt.date.fromisoformat(context.partition_key)
        row = pd.DataFrame(
            {
                "order_date": [day],
                "revenue": [round(float(cleaned_orders["amount"].sum()), 2)],
                "order_count": [len(cleaned_orders)],
            }
        )
        with engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM bench_dagster.daily_revenue WHERE order_date = :d"), {"d": day})
            row.to_sql("daily_revenue", connection, schema="bench_dagster", if_exists="append", index=False)
        return row

    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS bench_dagster")
        connection.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS bench_dagster.daily_revenue "
            "(order_date date PRIMARY KEY, revenue double precision, order_count bigint)"
        )
    return [raw_orders, cleaned_orders, daily_revenue], engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dagster_baseline")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--home", help="DAGSTER_HOME (default: a temporary directory)")
    args = parser.parse_args(argv)
    home = args.home or tempfile.mkdtemp(prefix="dagster-home-")
    os.environ["DAGSTER_HOME"] = home
    open(os.path.join(home, "dagster.yaml"), "a").close()
    started = time.perf_counter()
    import dagster as dg

    definitions, engine = build(args.database_url, args.start, args.end)
    instance = dg.DagsterInstance.get()
    first, last = dt.date.fromisoformat(args.start), dt.date.fromisoformat(args.end)
    days: dict[str, dict[str, float | int]] = {}
    day = first
    while day <= last:
        result = dg.materialize(definitions, partition_key=day.isoformat(), instance=instance, raise_on_error=False)
        if not result.success:
            print(json.dumps({"error": f"{day}: materialize failed"}), flush=True)
            return 1
        row = result.output_for_node("daily_revenue").iloc[0]
        days[day.isoformat()] = {"revenue": float(row["revenue"]), "order_count": int(row["order_count"])}
        day += dt.timedelta(days=1)
    engine.dispose()
    print(
        json.dumps({"partitions": len(days), "wall_s": round(time.perf_counter() - started, 6), "days": days}),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
