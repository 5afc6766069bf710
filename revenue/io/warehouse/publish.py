"""Publishing a partition: one transaction per partition.

Publishing deletes the day's rows of the published tables (``revenue.catalog.PUBLISHED``),
inserts the new ones, replaces the day's ``order_moves`` edges and upserts the ledger in one
transaction that holds the day's lock (a Postgres advisory lock; SQLite's write lock), and
first asks the caller's guard whether the input is still current: two runs of one day, on
any process or machine, publish one after the other, and a run whose input was superseded
meanwhile publishes nothing. A crash at any point leaves the previous version intact.

``order_moves``: one row per (``from_day``, ``order_id``) of an order whose version on
``from_day`` is outranked by its version on ``to_day`` (from ``origin``): written by the
publish of either day, and part of ``from_day``'s input (``revenue.transforms.identity``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from revenue import catalog
from revenue.io import activity
from revenue.io.warehouse.database import Guard, Warehouse
from revenue.io.warehouse.ledger import (
    TABLE as LEDGER,
)
from revenue.io.warehouse.ledger import (
    DatasetRecord,
    InputRecord,
    ledger_values,
    published_totals,
    upsert_ledger,
)
from revenue.io.warehouse.sql import as_date, dialect_insert, insert_frame
from revenue.statuses import Attempt
from revenue.transforms.identity import Move

PUBLISHED: Attempt = "published"
FAILED: Attempt = "failed"
"""The two attempts ``rejected_orders`` keeps per partition."""


@dataclass(frozen=True)
class PartitionOutput:
    """Everything one partition publishes to the warehouse."""

    partition: dt.date
    input: InputRecord
    run_id: str | None
    tables: Mapping[str, pd.DataFrame]
    """Dataset -> its rows of the partition, for each dataset with a warehouse table
    (``revenue.catalog.PUBLISHED``): the columns the stages compute."""
    datasets: Sequence[DatasetRecord] = field(default_factory=tuple)
    moves: Sequence[Move] = ()
    """Every edge between this day and another for the day's orders (won and lost)."""


def day_column(dataset: catalog.Dataset) -> str:
    """The key column that holds a published table's partition day (its first date key)."""
    return next(c.name for c in dataset.columns if c.key and c.type == "date")


def with_publish_columns(dataset: catalog.Dataset, frame: pd.DataFrame, values: Mapping[str, object]) -> pd.DataFrame:
    """``frame`` with the columns the warehouse adds when it publishes (the catalog's
    ``written_by="publish"`` columns of ``dataset``), taken from ``values``."""
    return frame.assign(**{name: values[name] for name in dataset.column_names("publish")})


def publish(
    warehouse: Warehouse,
    output: PartitionOutput,
    guard: Guard | None = None,
    before_commit: Callable[[], object] | None = None,
) -> list[dt.date]:
    """Replace the partition's rows and upsert its ledger rows in one transaction,
    after ``guard`` (under the day's lock) accepted the input as still current.
    ``before_commit`` runs inside the transaction before the ledger is written (the
    caller waits there for work that must succeed for the publish to count, such as
    the lake files the ledger names); if it raises, nothing is committed.

    Returns the other days whose ``order_moves`` edges this publish changed: an order
    moved to or from them, so their input changed (the caller recomputes them)."""
    warehouse.ensure_tables(output.partition)
    day = output.partition
    now = dt.datetime.now(dt.timezone.utc)
    added = {
        "fingerprint": output.input.fingerprint,
        "run_id": output.run_id,
        "published_at": now,
        "partition_date": day,
        "attempt": PUBLISHED,
    }
    with warehouse.service("publishing", day), warehouse.write_transaction(day.isoformat()) as connection:
        if guard is not None:
            guard(connection)
        for dataset in catalog.PUBLISHED:
            table = warehouse.table(dataset.warehouse_table())
            connection.execute(table.delete().where(table.c[day_column(dataset)] == day))
        activity.clear_older_marks(warehouse, connection, day, output.run_id, now)
        for dataset in catalog.PUBLISHED:
            frame = with_publish_columns(dataset, output.tables[dataset.name], added)
            insert_frame(connection, warehouse.table(dataset.warehouse_table()), frame)
        displaced = _replace_moves(warehouse, connection, day, output.moves)
        if before_commit is not None:
            before_commit()
        upsert_ledger(
            connection,
            warehouse.table(LEDGER),
            day,
            [
                {
                    **ledger_values(record, output.input),
                    "status": "warned" if record.gate_status == "warned" else "materialized",
                    "run_id": output.run_id,
                    "error": None,
                    "attempted_at": now,
                    "published_fingerprint": output.input.fingerprint,
                    "published_at": now,
                    **published_totals(record, output.tables[catalog.DAILY_REVENUE.name]),
                }
                for record in output.datasets
            ],
        )
    return displaced


def _replace_moves(warehouse: Warehouse, connection: Connection, day: dt.date, moves: Sequence[Move]) -> list[dt.date]:
    """Replace the ``order_moves`` edges that touch ``day`` by the ones its publish
    computed; the other days whose edges changed."""
    table = warehouse.table("order_moves")
    touching = sa.or_(table.c.from_day == day, table.c.to_day == day)
    before = {
        (as_date(r.from_day), int(r.order_id), as_date(r.to_day))
        for r in connection.execute(sa.select(table.c.from_day, table.c.order_id, table.c.to_day).where(touching))
    }
    after = {(m.from_day, m.order_id, m.to_day) for m in moves}
    if before == after:
        return []
    connection.execute(table.delete().where(touching))
    if moves:
        insert = dialect_insert(connection)(table).values(
            [{"from_day": m.from_day, "order_id": m.order_id, "to_day": m.to_day, "origin": m.origin} for m in moves]
        )
        connection.execute(
            insert.on_conflict_do_update(
                index_elements=["from_day", "order_id"],
                set_={"to_day": insert.excluded.to_day, "origin": insert.excluded.origin},
            )
        )
    return sorted({edge[0] for edge in before ^ after} - {day})


def moves_from(warehouse: Warehouse, start: dt.date, end: dt.date) -> dict[dt.date, tuple[tuple[int, str], ...]]:
    """For each day of ``[start, end]`` that has any, the (order_id, day it counts on)
    of its orders that count on another day (one query)."""
    warehouse.ensure_tables()
    table = warehouse.table("order_moves")
    query = (
        sa.select(table.c.from_day, table.c.order_id, table.c.to_day)
        .where(table.c.from_day.between(start, end))
        .order_by(table.c.from_day, table.c.order_id)
    )
    found: dict[dt.date, list[tuple[int, str]]] = {}
    with warehouse.service("reading moved orders"), warehouse.engine.connect() as connection:
        for row in connection.execute(query):
            found.setdefault(as_date(row.from_day), []).append((int(row.order_id), as_date(row.to_day).isoformat()))
    return {day: tuple(edges) for day, edges in found.items()}


def record_failure(
    warehouse: Warehouse,
    partition: dt.date,
    input: InputRecord,
    run_id: str | None,
    cause: str,
    datasets: Iterable[DatasetRecord],
    rejected: pd.DataFrame | None = None,
) -> None:
    """Mark the partition's last attempt failed with its cause, and keep the attempt's
    quarantine; published data and the ``published_*`` ledger columns stay as they were."""
    warehouse.ensure_tables(partition)
    now = dt.datetime.now(dt.timezone.utc)
    with (
        warehouse.service("recording a failure", partition),
        warehouse.write_transaction(partition.isoformat()) as connection,
    ):
        quarantine = warehouse.table(catalog.REJECTED_ORDERS.warehouse_table())
        connection.execute(
            quarantine.delete().where(quarantine.c.partition_date == partition, quarantine.c.attempt == FAILED)
        )
        if rejected is not None:
            added = {"partition_date": partition, "attempt": FAILED, "run_id": run_id}
            insert_frame(connection, quarantine, with_publish_columns(catalog.REJECTED_ORDERS, rejected, added))
        upsert_ledger(
            connection,
            warehouse.table(LEDGER),
            partition,
            [
                {
                    # ``lake_uri`` stays the published version's (``revenue.io.lake``)
                    **{k: v for k, v in ledger_values(record, input).items() if k != "lake_uri"},
                    "status": "failed",
                    "run_id": run_id,
                    "error": cause[:4000],
                    "attempted_at": now,
                }
                for record in datasets
            ],
        )
