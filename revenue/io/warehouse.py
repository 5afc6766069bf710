"""Warehouse writer: publishes a partition in one transaction, and the partition ledger.

Tables (in ``schema``; SQLite has none) and their grain:

- ``daily_revenue``: one row per ``order_date``: ``revenue``, ``order_count`` and the
  ``fingerprint`` of the input it was computed from.
- ``customer_daily_spend``: one row per (``order_date``, ``customer_id``):
  ``daily_spend``, ``order_count``.
- ``rejected_orders``: one row per quarantined input row of a partition's published version
  (``attempt = 'published'``) or of its latest failed attempt (``attempt = 'failed'``), keyed
  (``partition_date``, ``attempt``, ``origin``, ``line``): the ``origin`` (the source table's
  label or a landed file's URI), the ``line`` (a file's line; for the source, the row's
  position in the day's extract), its ``reason`` and the raw ``record`` as JSON.
- ``partition_ledger``: one row per (``dataset``, ``partition_date``): the last attempt's
  ``status`` (materialized, warned, failed), ``fingerprint``, counts, rejected rows by reason
  and gate summary, the stage's duration with its gate (``duration_ms``), the input it read
  (``source_fingerprint``, ``input_files``), the cause of a failure in plain words
  (``error``), plus what is published (``published_fingerprint``, ``published_at``; on the
  ``daily_revenue`` row also the totals that publish wrote, ``published_revenue`` and
  ``published_order_count``: NULL in rows an older version wrote, meaning not recorded).
- ``landing_registry``, ``landing_registry_days``, ``landed_orders``, ``landed_row_rejects``
  and ``order_moves``: declared and described in ``revenue.io.landing.tables``.
- ``partition_runs`` (one row per partition being computed and run, kept alive by a
  heartbeat; a publish of the day removes the rows of runs that started before it) and
  ``heartbeats`` (one row per long-lived process, such as the landing watcher, and one per
  alert sent, named ``alert-...``: see ``flows.alert_events``): see ``revenue.io.activity``.

Money columns are exact: ``numeric(18, 2)`` on Postgres, decimal text on SQLite (whose
numbers are 64-bit floats), ``Decimal`` in Python.

Publishing deletes the day's rows, inserts the new ones and upserts the ledger in one
transaction that holds the day's lock (a Postgres advisory lock; SQLite's write lock), and
first asks the caller's guard whether the input is still current: two runs of one day, on
any process or machine, publish one after the other, and a run whose input was superseded
meanwhile publishes nothing. A crash at any point leaves the previous version intact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from revenue import catalog
from revenue.contract import CENT
from revenue.io.errors import service
from revenue.io.landing import tables as landing_tables
from revenue.transforms.identity import Move

log = logging.getLogger(__name__)

TIMESTAMP = sa.DateTime(timezone=True)
PUBLISHED, FAILED = "published", "failed"
"""The two attempts ``rejected_orders`` keeps per partition."""


MONEY_PRECISION = 38
"""Digits of a money column: any total of int64 cents fits."""


class Money(sa.types.TypeDecorator):
    """An exact amount with two decimals: ``numeric(38, 2)``, or decimal text on SQLite."""

    impl = sa.Numeric(MONEY_PRECISION, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.Numeric(MONEY_PRECISION, 2, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
        return str(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def build_metadata(schema: str | None) -> sa.MetaData:
    """The warehouse tables, with primary keys on each table's grain."""
    metadata = sa.MetaData(schema=schema)
    sa.Table(
        catalog.DAILY_REVENUE.name,
        metadata,
        sa.Column("order_date", sa.Date, primary_key=True),
        sa.Column("revenue", Money, nullable=False),
        sa.Column("order_count", sa.BigInteger, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text),
        sa.Column("published_at", TIMESTAMP, nullable=False),
    )
    sa.Table(
        catalog.CUSTOMER_DAILY_SPEND.name,
        metadata,
        sa.Column("order_date", sa.Date, primary_key=True),
        sa.Column("customer_id", sa.Text, primary_key=True),
        sa.Column("daily_spend", Money, nullable=False),
        sa.Column("order_count", sa.BigInteger, nullable=False),
    )
    sa.Table(
        catalog.REJECTED_ORDERS.name,
        metadata,
        sa.Column("partition_date", sa.Date, primary_key=True),
        sa.Column("attempt", sa.Text, primary_key=True),
        sa.Column("origin", sa.Text, primary_key=True),
        sa.Column("line", sa.BigInteger, primary_key=True),
        sa.Column("landing_seq", sa.BigInteger),
        sa.Column("order_id", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text),
    )
    landing_tables.declare(metadata)
    sa.Table(
        "partition_ledger",
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
    sa.Table(
        "partition_runs",
        metadata,
        sa.Column("partition_date", sa.Date, primary_key=True),
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("beat_at", TIMESTAMP),  # nullable: added in place to tables created before it
    )
    sa.Table(
        "heal_requests",
        metadata,
        sa.Column("partition_date", sa.Date, primary_key=True),
        sa.Column("fingerprint", sa.Text, primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("first_seen_at", TIMESTAMP, nullable=False),
        sa.Column("claimed_at", TIMESTAMP),
        sa.Column("claimed_by", sa.Text),
        sa.Column("run_key", sa.Text),
        sa.Column("run_id", sa.Text),
        sa.Column("run_name", sa.Text),
        sa.Column("behind_of", sa.Text),  # the day's last attempted input when recorded: a need is the pair
        sa.Column("starts", sa.Integer),  # runs started for this version (a crashed or cancelled one is started again)
    )
    sa.Table(
        "heartbeats",
        metadata,
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("beat_at", TIMESTAMP, nullable=False),
        sa.Column("detail", sa.Text),
    )
    return metadata


@dataclass(frozen=True)
class DatasetRecord:
    """What the ledger records about one dataset of a partition."""

    dataset: str
    row_count: int | None = None
    rejected_count: int | None = None
    rejected_reasons: dict[str, int] | None = None
    gate_status: str | None = None
    gate_summary: dict | None = None
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
class PartitionOutput:
    """Everything one partition publishes to the warehouse."""

    partition: dt.date
    input: InputRecord
    run_id: str | None
    daily_revenue: pd.DataFrame
    customer_daily_spend: pd.DataFrame
    rejected: pd.DataFrame
    datasets: Sequence[DatasetRecord] = field(default_factory=tuple)
    moves: Sequence[Move] = ()
    """Every edge between this day and another for the day's orders (won and lost)."""


@dataclass(frozen=True)
class LedgerRow:
    dataset: str
    partition_date: dt.date
    status: str
    fingerprint: str
    source_fingerprint: str | None
    input_files: str | None
    input_moves: str | None
    row_count: int | None
    rejected_count: int | None
    rejected_reasons: str | None
    gate_status: str | None
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


Guard = Callable[[Connection], None]
"""Called inside the publish transaction, under the day's lock: raises to refuse."""


class Warehouse:
    """The published tables of one environment."""

    def __init__(self, engine: Engine, schema: str | None = "analytics") -> None:
        self.engine = engine
        self.schema = None if engine.dialect.name == "sqlite" else schema
        self.metadata = build_metadata(self.schema)
        self.tables = self.metadata.tables
        self._ready = False
        self._ddl_lock = threading.Lock()

    @property
    def label(self) -> str:
        """A credential-free name: ``warehouse database postgresql:dwh/analytics``."""
        url = self.engine.url
        database = (url.database or "").rsplit("/", 1)[-1]
        return f"warehouse database {url.get_backend_name()}:{database}/{self.schema or 'main'}"

    def service(self, action: str, partition: dt.date | None = None):
        """Turns connection failures inside the block into ``ServiceUnavailableError``."""
        return service(self.label, action, partition)

    def table(self, name: str) -> sa.Table:
        return self.tables[f"{self.schema}.{name}" if self.schema else name]

    def ensure_tables(self, partition: dt.date | None = None) -> None:
        """Create the schema and tables if absent (idempotent, safe to race: threads share
        a lock, Postgres sessions an advisory lock, SQLite its write lock)."""
        if self._ready:
            return
        with self._ddl_lock, self.service("creating tables", partition):
            if self._ready:
                return
            with self.write_transaction("ddl") as connection:
                if self.schema:
                    connection.execute(sa.schema.CreateSchema(self.schema, if_not_exists=True))
                self._retire_outdated_tables(connection)
                self.metadata.create_all(connection, checkfirst=True)
            self._ready = True

    def _retire_outdated_tables(self, connection: Connection) -> None:
        """Bring tables an older version of the pipeline created up to date: a nullable
        column it lacks is added in place; a table with other required columns or inexact
        money is moved aside and created anew (its rows are kept where it was moved to; the
        next runs recompute what it held)."""
        inspector = sa.inspect(connection)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H%M%S")
        for table in self.metadata.sorted_tables:
            if not inspector.has_table(table.name, schema=self.schema):
                continue
            present = {c["name"]: c["type"] for c in inspector.get_columns(table.name, schema=self.schema)}
            missing = [c for c in table.columns if c.name not in present]
            if not _inexact_money(connection, table, present) and all(c.nullable for c in missing):
                for column in missing:  # a column a newer version added: added in place, rows kept
                    column_type = column.type.compile(dialect=connection.dialect)
                    connection.execute(
                        sa.text(
                            f"ALTER TABLE {_quoted(connection, *filter(None, (self.schema, table.name)))} "
                            f"ADD COLUMN {_quoted(connection, column.name)} {column_type}"
                        )
                    )
                    log.info("%s: added column %s to %s", self.label, column.name, table.name)
                continue
            if self.schema:
                retired = f"{self.schema}_retired_{stamp}"
                connection.execute(sa.schema.CreateSchema(retired, if_not_exists=True))
                connection.execute(
                    sa.text(
                        f"ALTER TABLE {_quoted(connection, self.schema, table.name)} "
                        f"SET SCHEMA {_quoted(connection, retired)}"
                    )
                )
            else:  # SQLite: index names are global and stay with a renamed table
                retired = f"{table.name}_retired_{stamp}"
                for index in inspector.get_indexes(table.name):
                    connection.execute(sa.text(f"DROP INDEX {_quoted(connection, str(index['name']))}"))
                connection.execute(
                    sa.text(f"ALTER TABLE {_quoted(connection, table.name)} RENAME TO {_quoted(connection, retired)}")
                )
            log.warning(
                "%s: table %s had the columns of an older version; moved to %s", self.label, table.name, retired
            )

    @contextmanager
    def write_transaction(self, lock: str) -> Iterator[Connection]:
        """One transaction holding the lock ``lock`` until it ends, on every backend: a
        Postgres advisory lock (held across machines), or SQLite's database write lock
        (``BEGIN IMMEDIATE``, so a read inside it sees what no other writer can change)."""
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as plain:
                connection = plain.execution_options(isolation_level="AUTOCOMMIT")
                connection.exec_driver_sql("PRAGMA busy_timeout = 60000")
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield connection
                except BaseException:
                    connection.exec_driver_sql("ROLLBACK")
                    raise
                connection.exec_driver_sql("COMMIT")
            return
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                key = sa.bindparam("key", advisory_key(self.schema, lock), type_=sa.BigInteger)
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
            yield connection

    def check(self, guard: Guard, partition: dt.date) -> None:
        """Run a publish guard outside any lock (to refuse early, before the lake is written)."""
        self.ensure_tables(partition)
        with self.service("checking the input is current", partition), self.engine.connect() as connection:
            guard(connection)

    def publish(
        self, output: PartitionOutput, guard: Guard | None = None, before_commit: Callable[[], object] | None = None
    ) -> list[dt.date]:
        """Replace the partition's rows and upsert its ledger rows in one transaction,
        after ``guard`` (under the day's lock) accepted the input as still current.
        ``before_commit`` runs inside the transaction before the ledger is written (the
        caller waits there for work that must succeed for the publish to count, such as
        the lake files the ledger names); if it raises, nothing is committed.

        Returns the other days whose ``order_moves`` edges this publish changed: an order
        moved to or from them, so their input changed (the caller recomputes them)."""
        self.ensure_tables(output.partition)
        day = output.partition
        now = dt.datetime.now(dt.timezone.utc)
        with self.service("publishing", day), self.write_transaction(day.isoformat()) as connection:
            if guard is not None:
                guard(connection)
            revenue = self.table(catalog.DAILY_REVENUE.name)
            spend = self.table(catalog.CUSTOMER_DAILY_SPEND.name)
            rejected = self.table(catalog.REJECTED_ORDERS.name)
            connection.execute(revenue.delete().where(revenue.c.order_date == day))
            connection.execute(spend.delete().where(spend.c.order_date == day))
            connection.execute(rejected.delete().where(rejected.c.partition_date == day))
            self._clear_older_marks(connection, day, output.run_id, now)
            insert_frame(
                connection,
                revenue,
                output.daily_revenue.assign(
                    fingerprint=output.input.fingerprint, run_id=output.run_id, published_at=now
                ),
            )
            insert_frame(connection, spend, output.customer_daily_spend)
            insert_frame(
                connection,
                rejected,
                output.rejected.assign(partition_date=day, attempt=PUBLISHED, run_id=output.run_id),
            )
            displaced = self._replace_moves(connection, day, output.moves)
            if before_commit is not None:
                before_commit()
            self._upsert_ledger(
                connection,
                day,
                [
                    {
                        **_ledger_values(record, output.input),
                        "status": "warned" if record.gate_status == "warned" else "materialized",
                        "run_id": output.run_id,
                        "error": None,
                        "attempted_at": now,
                        "published_fingerprint": output.input.fingerprint,
                        "published_at": now,
                        **_published_totals(record, output.daily_revenue),
                    }
                    for record in output.datasets
                ],
            )
        return displaced

    def _replace_moves(self, connection: Connection, day: dt.date, moves: Sequence[Move]) -> list[dt.date]:
        """Replace the ``order_moves`` edges that touch ``day`` by the ones its publish
        computed; the other days whose edges changed."""
        table = self.table("order_moves")
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
                [
                    {"from_day": m.from_day, "order_id": m.order_id, "to_day": m.to_day, "origin": m.origin}
                    for m in moves
                ]
            )
            connection.execute(
                insert.on_conflict_do_update(
                    index_elements=["from_day", "order_id"],
                    set_={"to_day": insert.excluded.to_day, "origin": insert.excluded.origin},
                )
            )
        return sorted({edge[0] for edge in before ^ after} - {day})

    def moves_from(self, start: dt.date, end: dt.date) -> dict[dt.date, tuple[tuple[int, str], ...]]:
        """For each day of ``[start, end]`` that has any, the (order_id, day it counts on)
        of its orders that count on another day (one query)."""
        self.ensure_tables()
        table = self.table("order_moves")
        query = (
            sa.select(table.c.from_day, table.c.order_id, table.c.to_day)
            .where(table.c.from_day.between(start, end))
            .order_by(table.c.from_day, table.c.order_id)
        )
        found: dict[dt.date, list[tuple[int, str]]] = {}
        with self.service("reading moved orders"), self.engine.connect() as connection:
            for row in connection.execute(query):
                found.setdefault(as_date(row.from_day), []).append((int(row.order_id), as_date(row.to_day).isoformat()))
        return {day: tuple(edges) for day, edges in found.items()}

    def _clear_older_marks(self, connection: Connection, day: dt.date, run_id: str | None, now: dt.datetime) -> None:
        """Remove the running marks of ``day`` that other runs set before this publish (a
        killed run's mark must not outlive the version that replaced its work; a run still
        computing puts its mark back at its next heartbeat: ``revenue.io.activity``)."""
        runs = self.table("partition_runs")
        connection.execute(
            runs.delete().where(
                runs.c.partition_date == day, runs.c.run_id != (run_id or "local"), runs.c.started_at <= now
            )
        )

    def record_failure(
        self,
        partition: dt.date,
        input: InputRecord,
        run_id: str | None,
        cause: str,
        datasets: Iterable[DatasetRecord],
        rejected: pd.DataFrame | None = None,
    ) -> None:
        """Mark the partition's last attempt failed with its cause, and keep the attempt's
        quarantine; published data and the ``published_*`` ledger columns stay as they were."""
        self.ensure_tables(partition)
        now = dt.datetime.now(dt.timezone.utc)
        with (
            self.service("recording a failure", partition),
            self.write_transaction(partition.isoformat()) as connection,
        ):
            quarantine = self.table(catalog.REJECTED_ORDERS.name)
            connection.execute(
                quarantine.delete().where(quarantine.c.partition_date == partition, quarantine.c.attempt == FAILED)
            )
            if rejected is not None:
                insert_frame(
                    connection, quarantine, rejected.assign(partition_date=partition, attempt=FAILED, run_id=run_id)
                )
            self._upsert_ledger(
                connection,
                partition,
                [
                    {
                        # ``lake_uri`` stays the published version's (``revenue.io.lake``)
                        **{k: v for k, v in _ledger_values(record, input).items() if k != "lake_uri"},
                        "status": "failed",
                        "run_id": run_id,
                        "error": cause[:4000],
                        "attempted_at": now,
                    }
                    for record in datasets
                ],
            )

    def _upsert_ledger(self, connection: Connection, partition: dt.date, rows: list[dict]) -> None:
        """Insert or update the partition's ledger rows (one statement)."""
        if not rows:
            return
        ledger = self.table("partition_ledger")
        insert = dialect_insert(connection)(ledger).values([{"partition_date": partition, **row} for row in rows])
        update = {k: insert.excluded[k] for k in rows[0] if k != "dataset"}
        connection.execute(insert.on_conflict_do_update(index_elements=["dataset", "partition_date"], set_=update))

    def lake_uris(self, connection: Connection, partition: dt.date) -> dict[str, str]:
        """Dataset -> the lake file of the partition's published version (the ledger's
        ``lake_uri``), read in the caller's transaction."""
        ledger = self.table("partition_ledger")
        query = sa.select(ledger.c.dataset, ledger.c.lake_uri).where(
            ledger.c.partition_date == partition, ledger.c.lake_uri.is_not(None)
        )
        return {row.dataset: row.lake_uri for row in connection.execute(query)}

    def ledger(self, start: dt.date, end: dt.date) -> list[LedgerRow]:
        """Ledger rows of partitions in ``[start, end]``."""
        self.ensure_tables()
        ledger = self.table("partition_ledger")
        query = (
            sa.select(*(ledger.c[f] for f in LedgerRow.__dataclass_fields__))
            .where(ledger.c.partition_date.between(start, end))
            .order_by(ledger.c.partition_date, ledger.c.dataset)
        )
        with self.service("reading the ledger"), self.engine.connect() as connection:
            return [LedgerRow(**row) for row in connection.execute(query).mappings()]

    def failed_partitions(self, limit: int = 366) -> list[dt.date]:
        """The partitions whose last attempt failed, newest first (at most ``limit``)."""
        self.ensure_tables()
        ledger = self.table("partition_ledger")
        query = (
            sa.select(ledger.c.partition_date)
            .where(ledger.c.status == "failed")
            .distinct()
            .order_by(ledger.c.partition_date.desc())
            .limit(limit)
        )
        with self.service("reading the failed partitions"), self.engine.connect() as connection:
            return list(connection.execute(query).scalars())

    def published_days(self, start: dt.date, end: dt.date) -> dict[dt.date, PublishedDay]:
        """What the warehouse holds for each partition of ``[start, end]`` that it has a
        ledger row or a table row for: the ledger, ``daily_revenue``'s row and the sums of
        ``customer_daily_spend`` per day (three queries for the range)."""
        ledger = self.ledger(start, end)
        revenue, spend = self.table(catalog.DAILY_REVENUE.name), self.table(catalog.CUSTOMER_DAILY_SPEND.name)
        tables = sa.select(revenue.c.order_date, revenue.c.fingerprint, revenue.c.order_count, revenue.c.revenue).where(
            revenue.c.order_date.between(start, end)
        )
        with self.service("reading what is published"), self.engine.connect() as connection:
            spent = (
                sa.select(
                    spend.c.order_date,
                    sa.func.sum(spend.c.order_count).label("orders"),
                    _money_sum(connection, spend.c.daily_spend).label("spend"),
                )
                .where(spend.c.order_date.between(start, end))
                .group_by(spend.c.order_date)
            )
            held = {r.order_date: r for r in connection.execute(tables)}
            spend_totals = {
                r.order_date: (int(r.orders or 0), _money_total(connection, r.spend)) for r in connection.execute(spent)
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

    def read_table(self, name: str, partition: dt.date | None = None) -> pd.DataFrame:
        """A warehouse table (optionally one partition) as a DataFrame, sorted by its key."""
        self.ensure_tables()
        table = self.table(name)
        query = sa.select(table)
        if partition is not None:
            date_column = table.c.partition_date if "partition_date" in table.c else table.c.order_date
            query = query.where(date_column == partition)
        query = query.order_by(*table.primary_key.columns)
        with self.service(f"reading {name}", partition), self.engine.connect() as connection:
            return pd.DataFrame(connection.execute(query).mappings().all(), columns=[c.name for c in table.columns])

    def read_range(self, name: str, start: dt.date, end: dt.date) -> list[sa.Row]:
        """The rows of a partitioned table whose day is in ``[start, end]``, sorted by its key
        (one query, bounded by its date column: the rest of the table is not read)."""
        self.ensure_tables()
        table = self.table(name)
        date_column = table.c.partition_date if "partition_date" in table.c else table.c.order_date
        query = sa.select(table).where(date_column.between(start, end)).order_by(*table.primary_key.columns)
        with self.service(f"reading {name} {start}..{end}"), self.engine.connect() as connection:
            return list(connection.execute(query))


ID_BATCH = 10_000
"""Ids per ``IN`` list off Postgres (SQLite allows 32,766 bound values per statement)."""
DENSE_IDS = 4
"""Integer ids spanning at most this many times their number are looked up as one range."""


def id_batches(column: sa.ColumnElement, ids: Iterable[object], dialect: str) -> Iterator[sa.ColumnElement[bool]]:
    """Conditions that select at least the rows whose ``column`` is among ``ids`` (the
    caller keeps only those): one ``BETWEEN`` when the ids are integers dense enough
    (``DENSE_IDS``: a day's orders usually are, and an index range scan beats a million
    index probes by 10x or more); else one ``= ANY(array)`` on Postgres, or ``IN`` lists of
    ``ID_BATCH``. Nothing for no ids."""
    values = sorted(set(ids))  # type: ignore[type-var]
    if not values:
        return
    low, high = values[0], values[-1]
    if isinstance(low, int) and isinstance(high, int) and high - low + 1 <= DENSE_IDS * len(values):
        yield column.between(low, high)
        return
    if dialect == "postgresql":
        element = sa.Text() if isinstance(values[0], str) else sa.BigInteger()
        yield column == sa.any_(sa.bindparam("ids", values, type_=postgresql.ARRAY(element), unique=True))
        return
    for first in range(0, len(values), ID_BATCH):
        yield column.in_(values[first : first + ID_BATCH])


def as_date(value: object) -> dt.date:
    """A date column's value (SQLite may return text)."""
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def as_utc(value: dt.datetime) -> dt.datetime:
    """A timestamp column's value, in UTC (SQLite drops the zone of what it stores)."""
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def advisory_key(schema: str | None, name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock``."""
    digest = hashlib.sha256(f"revenue:{schema}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def dialect_insert(connection: Connection):
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def _inexact_money(connection: Connection, table: sa.Table, present: dict) -> bool:
    """A money column an older version made narrower (``numeric(18, 2)``), or that SQLite
    stores as a float (``NUMERIC``)."""
    for column in (c for c in table.columns if isinstance(c.type, Money) and c.name in present):
        found = present[column.name]
        if connection.dialect.name == "sqlite" and not isinstance(found, sa.Text):
            return True
        if connection.dialect.name != "sqlite" and getattr(found, "precision", MONEY_PRECISION) != MONEY_PRECISION:
            return True
    return False


def _money_sum(connection: Connection, column: sa.Column) -> sa.ColumnElement:
    """The exact sum of a money column: ``numeric`` on Postgres; on SQLite (decimal text,
    whose ``sum`` would be a float) whole cents, an integer: the text's digits when it has
    two decimals, as the pipeline writes it, else the value times 100 rounded."""
    if connection.dialect.name != "sqlite":
        return sa.func.sum(column)
    text = sa.cast(sa.type_coerce(column, sa.Text), sa.Text)
    cents = sa.case(
        (text.op("GLOB")("*.[0-9][0-9]"), sa.cast(sa.func.replace(text, ".", ""), sa.Integer)),
        else_=sa.cast(sa.func.round(sa.type_coerce(column, sa.Float) * 100), sa.Integer),
    )
    return sa.type_coerce(sa.func.sum(cents), sa.BigInteger)


def _money_total(connection: Connection, value: Any) -> Decimal:
    """What ``_money_sum`` returned, as an exact amount."""
    if value is None:
        return Decimal("0.00")
    if connection.dialect.name == "sqlite":
        return (Decimal(int(value)) / 100).quantize(CENT)
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _quoted(connection: Connection, *names: str) -> str:
    preparer = connection.dialect.identifier_preparer
    return ".".join(preparer.quote_identifier(n) for n in names)


def _ledger_values(record: DatasetRecord, input: InputRecord) -> dict:
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


def _published_totals(record: DatasetRecord, daily_revenue: pd.DataFrame) -> dict:
    """The ledger's record of the totals a publish writes to ``daily_revenue`` (on that
    dataset's row; None on the others): what ``PublishedDay.edited`` checks the tables against."""
    if record.dataset != catalog.DAILY_REVENUE.name or daily_revenue.empty:
        return {"published_revenue": None, "published_order_count": None}
    return {
        "published_revenue": sum((Decimal(str(v)) for v in daily_revenue["revenue"]), Decimal("0.00")),
        "published_order_count": int(daily_revenue["order_count"].sum()),
    }


def insert_frame(connection: Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Insert a frame's rows inside the caller's transaction: on Postgres (psycopg 3) one
    ``COPY FROM STDIN`` of CSV text that Arrow writes in C++ (an order of magnitude faster
    than executemany, and than a Python call per row; a null is an empty field, an empty
    string is ``""``), else executemany."""
    if frame.empty:
        return
    columns = [c.name for c in table.columns if c.name in frame.columns]
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        import pyarrow as pa
        import pyarrow.csv as pacsv
        from psycopg import sql

        target = sql.Identifier(table.schema, table.name) if table.schema else sql.Identifier(table.name)
        statement = sql.SQL("COPY {target} ({columns}) FROM STDIN WITH (FORMAT csv)").format(
            target=target, columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        )
        text = pa.BufferOutputStream()
        pacsv.write_csv(
            pa.Table.from_pandas(frame[columns], preserve_index=False), text, pacsv.WriteOptions(include_header=False)
        )
        from revenue.io.copy_out import driver_connection

        raw = driver_connection(connection)  # the transaction's own connection
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            copy.write(text.getvalue().to_pybytes())
        return
    plain = frame[columns].astype("object").where(frame[columns].notna(), None)
    connection.execute(table.insert(), plain.to_dict(orient="records"))
