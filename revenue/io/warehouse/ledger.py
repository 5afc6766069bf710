"""The partition ledger: what each partition's last attempt did and what is published.

``partition_ledger``: one row per (``dataset``, ``partition_date``): the last attempt's
``status`` (materialized, warned, failed), ``fingerprint``, counts, rejected rows by reason
and gate summary, the stage's duration with its gate (``duration_ms``), the input it read
(``source_fingerprint``, ``input_files``, ``input_moves``), the cause of a failure in plain
words (``error``), plus what is published (``published_fingerprint``, ``published_at``; on the
``daily_revenue`` row also the totals that publish wrote, ``published_revenue`` and
``published_order_count``: NULL in rows an older version wrote, meaning not recorded).

Publishing writes it (``revenue.io.warehouse.publish``); ``read_ledger``,
``published_days``, ``failed_partitions`` and ``lake_uris`` read it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from revenue import catalog
from revenue.io.warehouse.sql import dialect_insert, money_sum, money_total
from revenue.io.warehouse.types import TIMESTAMP, Money
from revenue.statuses import GateStatus, LedgerStatus

if TYPE_CHECKING:
    from revenue.io.warehouse.database import Warehouse

TABLE = "partition_ledger"


def declare(metadata: sa.MetaData) -> None:
    """Add ``partition_ledger`` to the warehouse's tables."""
    sa.Table(
        TABLE,
        metadata,
        sa.Column("dataset", sa.Text, primary_key=True),
        sa.Column("partition_date", sa.Date, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("source_fingerprint", sa.Text),
        sa.Column("input_files", sa.Text),
        sa.Column("input_moves", sa.Text),
        sa.Column("row_count", sa.BigInteger),
        sa.Column("rejected_count", sa.BigInteger),
        sa.Column("rejected_reasons", sa.Text),
        sa.Column("gate_status", sa.Text),
        sa.Column("gate_summary", sa.Text),
        sa.Column("lake_uri", sa.Text),
        sa.Column("duration_ms", sa.BigInteger),
        sa.Column("run_id", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("attempted_at", TIMESTAMP, nullable=False),
        sa.Column("published_fingerprint", sa.Text),
        sa.Column("published_at", TIMESTAMP),
        sa.Column("published_revenue", Money),  # the daily_revenue row only; NULL: not recorded
        sa.Column("published_order_count", sa.BigInteger),
    )


@dataclass(frozen=True)
class DatasetRecord:
    """What the ledger records about one dataset of a partition."""

    dataset: str
    row_count: int | None = None
    rejected_count: int | None = None
    rejected_reasons: dict[str, int] | None = None
    gate_status: GateStatus | None = None
    gate_summary: dict[str, Any] | None = None
    lake_uri: str | None = None
    duration_ms: int | None = None
    """The dataset's stage with its gate (extract, clean, aggregate)."""


@dataclass(frozen=True)
class InputRecord:
    """The input a partition was computed from, as the ledger keeps it."""

    fingerprint: str
    source_fingerprint: str
    files: tuple[tuple[int, str, str], ...] = ()
    """(landing sequence, uri, etag) of each landed file, in landing order."""
    moves: tuple[tuple[int, str], ...] = ()
    """(order_id, day) of each order of the day that counts on another day, sorted."""


@dataclass(frozen=True)
class LedgerRow:
    dataset: str
    partition_date: dt.date
    status: LedgerStatus
    fingerprint: str
    source_fingerprint: str | None
    input_files: str | None
    input_moves: str | None
    row_count: int | None
    rejected_count: int | None
    rejected_reasons: str | None
    gate_status: GateStatus | None
    gate_summary: str | None
    lake_uri: str | None
    duration_ms: int | None
    run_id: str | None
    error: str | None
    attempted_at: dt.datetime
    published_fingerprint: str | None
    published_at: dt.datetime | None
    published_revenue: Decimal | None
    """The ``daily_revenue`` dataset's row: the revenue its last publish wrote (None: not recorded)."""
    published_order_count: int | None

    def files(self) -> list[tuple[int, str, str]]:
        """The (landing sequence, uri, etag) of the input the last attempt read."""
        return [(int(seq), str(uri), str(etag)) for seq, uri, etag in json.loads(self.input_files or "[]")]

    def moves(self) -> list[tuple[int, str]]:
        """The (order_id, day) of each of the day's orders that counted on another day."""
        return [(int(order_id), str(day)) for order_id, day in json.loads(self.input_moves or "[]")]


@dataclass(frozen=True)
class PublishedDay:
    """What the warehouse holds for one partition: its ledger rows and its tables' rows."""

    partition: dt.date
    ledger: dict[str, LedgerRow]
    table_fingerprint: str | None
    """``daily_revenue.fingerprint`` of the day, None if the table has no row for it."""
    table_order_count: int | None
    spend_order_count: int
    """Sum of ``customer_daily_spend.order_count`` of the day."""
    table_revenue: Decimal | None = None
    """``daily_revenue.revenue`` of the day, None if the table has no row for it."""
    spend_revenue: Decimal = Decimal("0.00")
    """Sum of ``customer_daily_spend.daily_spend`` of the day, exact."""

    def holds(self, fingerprint: str) -> bool:
        """The warehouse holds this partition at ``fingerprint``: the ledger says it was
        published at it, both tables hold that version (rows deleted by a restore, a
        truncate or a new warehouse are not held, whatever a cache remembers), and they
        still hold the totals that publish wrote (``edited``)."""
        return (
            bool(self.ledger)
            and all(r.published_fingerprint == fingerprint for r in self.ledger.values())
            and self.table_fingerprint == fingerprint
            and not self.edited()
        )

    def edited(self) -> str:
        """What the day's tables hold that its publish did not write, in plain words ("" when
        nothing differs): ``daily_revenue``'s revenue and order count against the totals the
        ledger recorded, and the sums of ``customer_daily_spend`` against them (against
        ``daily_revenue`` where the ledger recorded none). Money compares exactly."""
        if self.table_revenue is None or self.table_order_count is None:
            return ""  # no row: not an edit, the rows are gone
        record = self.ledger.get(catalog.DAILY_REVENUE.name)
        revenue, orders = (record.published_revenue, record.published_order_count) if record else (None, None)
        differences = []
        totals: tuple[tuple[str, str, object, object, object], ...] = (
            ("revenue", "daily_spend", self.table_revenue, self.spend_revenue, revenue),
            ("order_count", "order_count", self.table_order_count, self.spend_order_count, orders),
        )
        for column, spend_column, held, spent, recorded in totals:
            if recorded is None:  # written by an older version: the tables against each other
                if spent != held:
                    differences.append(
                        f"customer_daily_spend.{spend_column} sums to {spent}, not daily_revenue.{column} {held}"
                    )
                continue
            if held != recorded:
                differences.append(f"daily_revenue.{column} {held} differs from the published {recorded}")
            if spent != recorded:
                differences.append(f"customer_daily_spend.{spend_column} sums to {spent}, not the published {recorded}")
        return "; ".join(differences) + " (edited outside the pipeline?)" if differences else ""


def upsert_ledger(connection: Connection, ledger: sa.Table, partition: dt.date, rows: list[dict[str, Any]]) -> None:
    """Insert or update the partition's ledger rows (one statement, in the caller's transaction)."""
    if not rows:
        return
    insert = dialect_insert(connection)(ledger).values([{"partition_date": partition, **row} for row in rows])
    update = {k: insert.excluded[k] for k in rows[0] if k != "dataset"}
    connection.execute(insert.on_conflict_do_update(index_elements=["dataset", "partition_date"], set_=update))


def lake_uris(warehouse: Warehouse, connection: Connection, partition: dt.date) -> dict[str, str]:
    """Dataset -> the lake file of the partition's published version (the ledger's
    ``lake_uri``), read in the caller's transaction."""
    ledger = warehouse.table(TABLE)
    query = sa.select(ledger.c.dataset, ledger.c.lake_uri).where(
        ledger.c.partition_date == partition, ledger.c.lake_uri.is_not(None)
    )
    return {row.dataset: row.lake_uri for row in connection.execute(query)}


def read_ledger(warehouse: Warehouse, start: dt.date, end: dt.date) -> list[LedgerRow]:
    """Ledger rows of partitions in ``[start, end]``."""
    warehouse.ensure_tables()
    ledger = warehouse.table(TABLE)
    query = (
        sa.select(*(ledger.c[f] for f in LedgerRow.__dataclass_fields__))
        .where(ledger.c.partition_date.between(start, end))
        .order_by(ledger.c.partition_date, ledger.c.dataset)
    )
    with warehouse.service("reading the ledger"), warehouse.engine.connect() as connection:
        return [LedgerRow(**row) for row in connection.execute(query).mappings()]


def failed_partitions(warehouse: Warehouse, limit: int = 366) -> list[dt.date]:
    """The partitions whose last attempt failed, newest first (at most ``limit``)."""
    warehouse.ensure_tables()
    ledger = warehouse.table(TABLE)
    query = (
        sa.select(ledger.c.partition_date)
        .where(ledger.c.status == "failed")
        .distinct()
        .order_by(ledger.c.partition_date.desc())
        .limit(limit)
    )
    with warehouse.service("reading the failed partitions"), warehouse.engine.connect() as connection:
        return list(connection.execute(query).scalars())


def published_days(warehouse: Warehouse, start: dt.date, end: dt.date) -> dict[dt.date, PublishedDay]:
    """What the warehouse holds for each partition of ``[start, end]`` that it has a
    ledger row or a table row for: the ledger, ``daily_revenue``'s row and the sums of
    ``customer_daily_spend`` per day (three queries for the range)."""
    ledger = read_ledger(warehouse, start, end)
    revenue = warehouse.table(catalog.DAILY_REVENUE.warehouse_table())
    spend = warehouse.table(catalog.CUSTOMER_DAILY_SPEND.warehouse_table())
    tables = sa.select(revenue.c.order_date, revenue.c.fingerprint, revenue.c.order_count, revenue.c.revenue).where(
        revenue.c.order_date.between(start, end)
    )
    with warehouse.service("reading what is published"), warehouse.engine.connect() as connection:
        spent = (
            sa.select(
                spend.c.order_date,
                sa.func.sum(spend.c.order_count).label("orders"),
                money_sum(connection, spend.c.daily_spend).label("spend"),
            )
            .where(spend.c.order_date.between(start, end))
            .group_by(spend.c.order_date)
        )
        held = {r.order_date: r for r in connection.execute(tables)}
        spend_totals = {
            r.order_date: (int(r.orders or 0), money_total(connection, r.spend)) for r in connection.execute(spent)
        }
    days: dict[dt.date, PublishedDay] = {}
    for day in sorted({r.partition_date for r in ledger} | set(held)):
        row = held.get(day)
        orders, spent_money = spend_totals.get(day, (0, Decimal("0.00")))
        days[day] = PublishedDay(
            partition=day,
            ledger={r.dataset: r for r in ledger if r.partition_date == day},
            table_fingerprint=row.fingerprint if row else None,
            table_order_count=int(row.order_count) if row else None,
            spend_order_count=orders,
            table_revenue=row.revenue if row else None,
            spend_revenue=spent_money,
        )
    return days


def ledger_values(record: DatasetRecord, input: InputRecord) -> dict[str, Any]:
    """The ledger columns that describe one dataset of an attempt and the input it read."""
    return {
        "dataset": record.dataset,
        "fingerprint": input.fingerprint,
        "source_fingerprint": input.source_fingerprint,
        "input_files": json.dumps([list(f) for f in input.files]),
        "input_moves": json.dumps([list(m) for m in input.moves]),
        "row_count": record.row_count,
        "rejected_count": record.rejected_count,
        "rejected_reasons": json.dumps(record.rejected_reasons, sort_keys=True)
        if record.rejected_reasons is not None
        else None,
        "gate_status": record.gate_status,
        "gate_summary": json.dumps(record.gate_summary, sort_keys=True) if record.gate_summary else None,
        "lake_uri": record.lake_uri,
        "duration_ms": record.duration_ms,
    }


def published_totals(record: DatasetRecord, daily_revenue: pd.DataFrame) -> dict[str, Any]:
    """The ledger's record of the totals a publish writes to ``daily_revenue`` (on that
    dataset's row; None on the others): what ``PublishedDay.edited`` checks the tables against."""
    if record.dataset != catalog.DAILY_REVENUE.name or daily_revenue.empty:
        return {"published_revenue": None, "published_order_count": None}
    return {
        "published_revenue": sum((Decimal(str(v)) for v in daily_revenue["revenue"]), Decimal("0.00")),
        "published_order_count": int(daily_revenue["order_count"].sum()),
    }
