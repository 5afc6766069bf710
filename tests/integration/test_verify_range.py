"""``revenue verify`` reads only the days it is asked about (issue 24, observation 3).

A warehouse of years must not make a check of a few days slow: verify reads the published
``daily_revenue`` and ``customer_daily_spend`` rows of its range and no others. The rows the
warehouse's engine returns are counted from the cursor, against Postgres.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from flows.daily_revenue import daily_revenue
from revenue.io.environment import environment
from revenue.verify import verify_range
from tests.integration.helpers import seed_orders

DAY = dt.date(2026, 4, 1)
SOURCE = [
    (1, "alice", 10.00, "2026-04-01 08:00:00"),
    (2, "bob", 20.00, "2026-04-01 09:00:00"),
    (3, "carol", 30.00, "2026-04-01 10:00:00"),
]
AROUND = 200
"""Published days on each side of DAY: the warehouse holds 401 days."""


COPIES = {
    "daily_revenue": ("order_date", "revenue", "order_count", "fingerprint", "run_id", "published_at"),
    "customer_daily_spend": ("order_date", "customer_id", "daily_spend", "order_count"),
}


def publish_copies(pg_url: str, day: dt.date, around: int) -> None:
    """Copies ``day``'s published rows to every day within ``around`` days of it (a
    warehouse of many published days, written directly)."""
    engine = sa.create_engine(pg_url)
    with engine.begin() as connection:
        for table, columns in COPIES.items():
            names = ", ".join(f'"{c}"' for c in columns)
            kept = ", ".join(f't."{c}"' for c in columns[1:])
            connection.execute(
                sa.text(
                    f'INSERT INTO analytics."{table}" ({names}) '
                    f'SELECT t.order_date + s.n, {kept} FROM analytics."{table}" AS t '
                    "CROSS JOIN generate_series(CAST(:low AS integer), CAST(:high AS integer)) AS s(n) "
                    "WHERE t.order_date = :day AND s.n <> 0"
                ),
                {"day": day, "low": -around, "high": around},
            )
    engine.dispose()


@contextmanager
def published_rows_read(engine: sa.Engine) -> Iterator[Counter]:
    """Counts the rows each statement on ``engine`` returned from ``daily_revenue`` or
    ``customer_daily_spend`` (a psycopg cursor's ``rowcount`` after a SELECT)."""
    rows: Counter = Counter()

    def count(connection, cursor, statement: str, parameters, context, executemany) -> None:
        if not statement.lstrip().upper().startswith("SELECT"):
            return
        if "customer_daily_spend" in statement:
            rows["customer_daily_spend"] += max(cursor.rowcount, 0)
        elif "daily_revenue" in statement:
            rows["daily_revenue"] += max(cursor.rowcount, 0)

    sa.event.listen(engine, "after_cursor_execute", count)
    try:
        yield rows
    finally:
        sa.event.remove(engine, "after_cursor_execute", count)


def test_verify_reads_the_published_rows_of_its_range_only(pg_env, pg_url):
    """Three days of a warehouse of 401: verify reads three days' rows (one revenue row and
    three customers' spend each), checks the middle day clean and names the two around it,
    whose published figures no input supports."""
    seed_orders(pg_env, SOURCE)
    [outcome] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert outcome.outcome == "published"
    publish_copies(pg_url, DAY, AROUND)
    env = environment(pg_env)
    before, after = DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=1)

    with published_rows_read(env.warehouse.engine) as rows:
        differences = verify_range(env, before, after)

    assert [d.partition for d in differences] == [before, after]
    assert all(d.published_orders == 3 and d.expected_orders == 0 for d in differences)
    assert rows == {"daily_revenue": 3, "customer_daily_spend": 3 * 3}, "verify read days outside its range"
