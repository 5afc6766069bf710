"""The benchmark's orders: seeded demo data (``revenue.demo_data.generate_orders``) loaded
with COPY (``revenue.io.orders_table.load_orders``) into a fresh ``orders`` table, then
``VACUUM ANALYZE``-d so every scenario reads a settled table.

``N orders`` a day means N distinct orders plus the ~2% re-sent versions the generator adds
(and its nulls and refunds), so a "1M" day holds ~1.02M source rows.
"""

from __future__ import annotations

import datetime as dt
import gc
import time
from typing import Any

from bench.plan import Log, Plan


def load(pg_url: str, plan: Plan, log: Log = print) -> dict[str, Any]:
    import sqlalchemy as sa

    from revenue.demo_data import generate_orders
    from revenue.io.orders_table import create_orders_table, load_orders

    engine = sa.create_engine(pg_url)
    create_orders_table(engine, replace=True)
    generate_s = copy_s = 0.0
    rows_by_day: dict[str, int] = {}
    batches: list[tuple[dt.date, dt.date, int, int]] = [
        (plan.single_day(size), plan.single_day(size), size, 100_000_000 * (index + 1))
        for index, size in enumerate(plan.sizes)
    ]
    if not plan.skip_backfill:  # the backfill's days and the scaling scenario's longest range
        last = plan.backfill_start + dt.timedelta(days=plan.loaded_days - 1)
        batches.append((plan.backfill_start, last, plan.backfill_orders_per_day, 1))
    for number, (first, last, per_day, first_id) in enumerate(batches):
        started = time.perf_counter()
        frame = generate_orders(first, last, per_day, seed=plan.seed + number, first_id=first_id)
        generated = time.perf_counter()
        load_orders(engine, frame)
        copied = time.perf_counter()
        generate_s += generated - started
        copy_s += copied - generated
        days = frame["order_date"].dt.tz_convert("UTC").dt.date.value_counts()
        for day, count in days.items():
            rows_by_day[day.isoformat()] = rows_by_day.get(day.isoformat(), 0) + int(count)
        log(f"  loaded {len(frame):,} rows for {first}..{last} ({per_day:,} orders/day) in {copied - started:.1f} s")
        del frame
        gc.collect()
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE orders")
        total = connection.exec_driver_sql("SELECT count(*) FROM orders").scalar_one()
        size = connection.exec_driver_sql("SELECT pg_total_relation_size('orders')").scalar_one()
        version = connection.exec_driver_sql("SHOW server_version").scalar_one()
        full_version = connection.exec_driver_sql("SELECT version()").scalar_one()
    vacuum_s = time.perf_counter() - started
    engine.dispose()
    return {
        "total_rows": int(total),
        "table_bytes": int(size),
        "rows_by_day": dict(sorted(rows_by_day.items())),
        "generate_s": round(generate_s, 3),
        "copy_s": round(copy_s, 3),
        "vacuum_analyze_s": round(vacuum_s, 3),
        "postgres_version": version,
        "postgres_version_full": full_version,
    }
