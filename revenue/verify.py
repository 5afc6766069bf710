"""Reconciliation: recompute each day's revenue and order count from the source in SQL
and compare with the published ``daily_revenue`` table.

The SQL applies the cleaning contract independently of pandas: rows with a null
``order_id``, ``customer_id`` or ``amount`` (or a blank ``customer_id``) are ignored,
and of each ``order_id`` only the newest version counts (greatest ``updated_at``
when the source has it, then greatest ``order_date``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from revenue.io.source import UPDATED_AT, OrdersSource
from revenue.partitions import partition_range

TOLERANCE = 0.005


@dataclass(frozen=True)
class Difference:
    partition: dt.date
    expected_revenue: float
    expected_orders: int
    published_revenue: float | None
    published_orders: int | None

    def describe(self) -> str:
        if self.published_revenue is None:
            return f"{self.partition}: not published (source: {self.expected_revenue:.2f} from {self.expected_orders} orders)"
        return (
            f"{self.partition}: published {self.published_revenue:.2f} from {self.published_orders} orders, "
            f"source says {self.expected_revenue:.2f} from {self.expected_orders} orders"
        )


def expected_from_source(source: OrdersSource, partition: dt.date) -> tuple[float, int]:
    """(revenue, order_count) of the partition, computed by the source database."""
    table = source._table()
    valid = sa.and_(
        source._in_partition(table, partition),
        table.c.order_id.is_not(None),
        table.c.customer_id.is_not(None),
        sa.func.trim(sa.cast(table.c.customer_id, sa.Text)) != "",
        table.c.amount.is_not(None),
    )
    newest_first = [table.c[UPDATED_AT].desc()] if UPDATED_AT in table.c else []
    newest_first.append(table.c.order_date.desc())
    ranked = (
        sa.select(
            table.c.amount.label("amount"),
            sa.func.row_number().over(partition_by=table.c.order_id, order_by=newest_first).label("version"),
        )
        .where(valid)
        .subquery()
    )
    query = sa.select(sa.func.coalesce(sa.func.sum(ranked.c.amount), 0), sa.func.count()).where(ranked.c.version == 1)
    with source.engine.connect() as connection:
        revenue, count = connection.execute(query).one()
    return round(float(revenue), 2), int(count)


def verify_range(config: str, start: dt.date, end: dt.date) -> list[Difference]:
    """Every partition of ``[start, end]`` whose published figures differ from the source."""
    from revenue.io.environment import environment

    env = environment(config)
    published = env.warehouse.read_table("daily_revenue")
    by_day = {row.order_date: row for row in published.itertuples()}
    differences = []
    for day in partition_range(start, end):
        revenue, count = expected_from_source(env.source, day)
        row = by_day.get(day)
        if row is None:
            if count:
                differences.append(Difference(day, revenue, count, None, None))
            continue
        if abs(float(row.revenue) - revenue) > TOLERANCE or int(row.order_count) != count:
            differences.append(Difference(day, revenue, count, float(row.revenue), int(row.order_count)))
    return differences


def render_differences(differences: list[Difference], start: dt.date, end: dt.date) -> str:
    days = len(partition_range(start, end))
    if not differences:
        return f"verified {days} partitions {start}..{end}: published revenue matches the source"
    lines = [f"{len(differences)} of {days} partitions differ from the source:"]
    return "\n".join(lines + ["  " + d.describe() for d in differences])
