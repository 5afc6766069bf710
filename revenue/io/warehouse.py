"""Warehouse writer: publishes a partition in one transaction, and the partition ledger.

Tables (in ``schema``; SQLite has none) and their grain:

- ``daily_revenue``: one row per ``order_date``: ``revenue``, ``order_count``.
- ``customer_daily_spend``: one row per (``order_date``, ``customer_id``):
  ``daily_spend``, ``order_count``.
- ``rejected_orders``: one row per (``partition_date``, ``source_row``): a source row
  the cleaner quarantined, with its ``reason``, the raw ``record`` as JSON and ``run_id``.
- ``landed_files``: one row per (``partition_date``, ``uri``): a landed file whose rows
  are part of the published partition (every later run of the day merges it again).
- ``landing_cursor``: one row per (``uri``, ``etag``) the landing watcher announced.
- ``partition_ledger``: one row per (``dataset``, ``partition_date``): the last
  attempt's ``status`` (materialized, warned, failed), ``fingerprint``, counts and gate
  summary, plus what is currently published (``published_fingerprint``, ``published_at``).

Publishing deletes the day's rows, inserts the new ones and upserts the ledger in one
transaction; on Postgres it first takes a transaction-scoped advisory lock on the
partition, so concurrent runs of one day publish one after the other, never interleaved.
A crash at any point leaves the previous version intact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from revenue.io.errors import service

LEDGER_DATASETS: tuple[str, ...] = ("raw_orders", "cleaned_orders", "daily_revenue", "customer_daily_spend")
MONEY = sa.Numeric(18, 2, asdecimal=False)
TIMESTAMP = sa.DateTime(timezone=True)


def build_metadata(schema: str | None) -> sa.MetaData:
    """The warehouse tables, with primary keys on each table's grain."""
    metadata = sa.MetaData(schema=schema)
    sa.Table(
        "daily_revenue", metadata,
        sa.Column("order_date", sa.Date, primary_key=True),
        sa.Column("revenue", MONEY, nullable=False),
        sa.Column("order_count", sa.BigInteger, nullable=False),
        sa.Column("run_id", sa.Text),
        sa.Column("published_at", TIMESTAMP, nullable=False),
    )
    sa.Table(
        "customer_daily_spend", metadata,
        sa.Column("order_date", sa.Date, primary_key=True),
        sa.Column("customer_id", sa.Text, primary_key=True),
        sa.Column("daily_spend", MONEY, nullable=False),
        sa.Column("order_count", sa.BigInteger, nullable=False),
    )
    sa.Table(
        "rejected_orders", metadata,
        sa.Column("partition_date", sa.Date, primary_key=True),
        sa.Column("source_row", sa.BigInteger, primary_key=True),
        sa.Column("order_id", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text),
    )
    sa.Table(
        "landed_files", metadata,
        sa.Column("partition_date", sa.Date, primary_key=True),
        sa.Column("uri", sa.Text, primary_key=True),
        sa.Column("etag", sa.Text, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("published_at", TIMESTAMP, nullable=False),
    )
    sa.Table(
        "landing_cursor", metadata,
        sa.Column("uri", sa.Text, primary_key=True),
        sa.Column("etag", sa.Text, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("emitted_at", TIMESTAMP, nullable=False),
    )
    sa.Table(
        "partition_ledger", metadata,
        sa.Column("dataset", sa.Text, primary_key=True),
        sa.Column("partition_date", sa.Date, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("row_count", sa.BigInteger),
        sa.Column("rejected_count", sa.BigInteger),
        sa.Column("gate_status", sa.Text),
        sa.Column("gate_summary", sa.Text),
        sa.Column("lake_uri", sa.Text),
        sa.Column("run_id", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("attempted_at", TIMESTAMP, nullable=False),
        sa.Column("published_fingerprint", sa.Text),
        sa.Column("published_at", TIMESTAMP),
    )
    return metadata


@dataclass(frozen=True)
class DatasetRecord:
    """What the ledger records about one dataset of a partition."""

    dataset: str
    row_count: int | None = None
    rejected_count: int | None = None
    gate_status: str | None = None
    gate_summary: dict | None = None
    lake_uri: str | None = None


@dataclass(frozen=True)
class PartitionOutput:
    """Everything one partition publishes to the warehouse."""

    partition: dt.date
    fingerprint: str
    run_id: str | None
    daily_revenue: pd.DataFrame
    customer_daily_spend: pd.DataFrame
    rejected: pd.DataFrame
    datasets: Sequence[DatasetRecord] = field(default_factory=tuple)
    landed: Sequence[tuple[str, str, int]] = field(default_factory=tuple)
    """(uri, etag, rows of this partition) of each landed file merged into it."""

    @property
    def status(self) -> str:
        return "warned" if any(d.gate_status == "warned" for d in self.datasets) else "materialized"


@dataclass(frozen=True)
class LedgerRow:
    dataset: str
    partition_date: dt.date
    status: str
    fingerprint: str
    row_count: int | None
    rejected_count: int | None
    gate_status: str | None
    gate_summary: str | None
    lake_uri: str | None
    run_id: str | None
    error: str | None
    published_fingerprint: str | None
    published_at: dt.datetime | None


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

    def _service(self, action: str, partition: dt.date | None = None):
        return service(self.label, action, partition)

    def table(self, name: str) -> sa.Table:
        return self.tables[f"{self.schema}.{name}" if self.schema else name]

    def ensure_tables(self, partition: dt.date | None = None) -> None:
        """Create the schema and tables if absent (idempotent, safe to race: threads share
        a lock, Postgres sessions an advisory lock, SQLite processes retry once)."""
        if self._ready:
            return
        with self._ddl_lock, self._service("creating tables", partition):
            if self._ready:
                return
            try:
                self._create_tables()
            except sa.exc.OperationalError as error:
                if "already exists" not in str(error):
                    raise
                self._create_tables()  # another process created some tables meanwhile
            self._ready = True

    def _create_tables(self) -> None:
        with self.engine.begin() as connection:
            self._lock(connection, "ddl")
            if self.schema:
                connection.execute(sa.schema.CreateSchema(self.schema, if_not_exists=True))
            self.metadata.create_all(connection, checkfirst=True)

    def _lock(self, connection: Connection, name: str) -> None:
        """Serialize writers of ``name`` until the transaction ends (Postgres only;
        SQLite serializes every writer with its database lock)."""
        if connection.dialect.name == "postgresql":
            key = sa.bindparam("key", advisory_key(self.schema, name), type_=sa.BigInteger)
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))

    def publish(self, output: PartitionOutput) -> None:
        """Replace the partition's rows and upsert its ledger rows in one transaction."""
        self.ensure_tables(output.partition)
        day = output.partition
        now = dt.datetime.now(dt.timezone.utc)
        with self._service("publishing", day), self.engine.begin() as connection:
            self._lock(connection, day.isoformat())
            revenue = self.table("daily_revenue")
            spend = self.table("customer_daily_spend")
            rejected = self.table("rejected_orders")
            connection.execute(revenue.delete().where(revenue.c.order_date == day))
            connection.execute(spend.delete().where(spend.c.order_date == day))
            connection.execute(rejected.delete().where(rejected.c.partition_date == day))
            _insert(connection, revenue, _records(
                output.daily_revenue.assign(run_id=output.run_id, published_at=now)))
            _insert(connection, spend, _records(output.customer_daily_spend))
            _insert(connection, rejected, _records(
                output.rejected.assign(partition_date=day, run_id=output.run_id)))
            landed = self.table("landed_files")
            for uri, etag, rows in output.landed:
                connection.execute(landed.delete().where(landed.c.partition_date == day, landed.c.uri == uri))
                connection.execute(landed.insert().values(
                    partition_date=day, uri=uri, etag=etag, rows=rows, published_at=now))
            for record in output.datasets:
                self._upsert_ledger(connection, day, {
                    **_ledger_values(record),
                    "status": "warned" if record.gate_status == "warned" else "materialized",
                    "fingerprint": output.fingerprint,
                    "run_id": output.run_id,
                    "error": None,
                    "attempted_at": now,
                    "published_fingerprint": output.fingerprint,
                    "published_at": now,
                })

    def record_failure(
        self,
        partition: dt.date,
        fingerprint: str,
        run_id: str | None,
        error: str,
        datasets: Iterable[DatasetRecord],
    ) -> None:
        """Mark the partition's last attempt failed; published data and its
        ``published_*`` ledger columns stay as they were."""
        self.ensure_tables(partition)
        now = dt.datetime.now(dt.timezone.utc)
        with self._service("recording a failure", partition), self.engine.begin() as connection:
            self._lock(connection, partition.isoformat())
            for record in datasets:
                self._upsert_ledger(connection, partition, {
                    **_ledger_values(record),
                    "status": "failed",
                    "fingerprint": fingerprint,
                    "run_id": run_id,
                    "error": error[:4000],
                    "attempted_at": now,
                })

    def _upsert_ledger(self, connection: Connection, partition: dt.date, values: dict) -> None:
        ledger = self.table("partition_ledger")
        insert = dialect_insert(connection)(ledger).values(partition_date=partition, **values)
        update = {k: insert.excluded[k] for k in values if k != "dataset"}
        connection.execute(insert.on_conflict_do_update(index_elements=["dataset", "partition_date"], set_=update))

    def ledger(self, start: dt.date, end: dt.date) -> list[LedgerRow]:
        """Ledger rows of partitions in ``[start, end]``."""
        self.ensure_tables()
        ledger = self.table("partition_ledger")
        query = sa.select(*(ledger.c[f] for f in LedgerRow.__dataclass_fields__)).where(
            ledger.c.partition_date.between(start, end)
        ).order_by(ledger.c.partition_date, ledger.c.dataset)
        with self._service("reading the ledger"), self.engine.connect() as connection:
            return [LedgerRow(**row) for row in connection.execute(query).mappings()]

    def ledger_by_day(self, start: dt.date, end: dt.date) -> dict[dt.date, list[LedgerRow]]:
        """Ledger rows of partitions in ``[start, end]``, by partition (one query)."""
        by_day: dict[dt.date, list[LedgerRow]] = {}
        for row in self.ledger(start, end):
            by_day.setdefault(row.partition_date, []).append(row)
        return by_day

    def landed_files(self, start: dt.date, end: dt.date) -> dict[dt.date, list[str]]:
        """URIs of the landed files merged into each partition of ``[start, end]``, oldest
        first (one query for the range)."""
        self.ensure_tables()
        landed = self.table("landed_files")
        query = sa.select(landed.c.partition_date, landed.c.uri).where(
            landed.c.partition_date.between(start, end)
        ).order_by(landed.c.partition_date, landed.c.published_at, landed.c.uri)
        found: dict[dt.date, list[str]] = {}
        with self._service("reading landed files", start if start == end else None), self.engine.connect() as connection:
            for row in connection.execute(query):
                found.setdefault(row.partition_date, []).append(row.uri)
        return found

    def read_table(self, name: str, partition: dt.date | None = None) -> pd.DataFrame:
        """A published table (optionally one partition) as a DataFrame, sorted by its key."""
        self.ensure_tables()
        table = self.table(name)
        date_column = table.c.partition_date if "partition_date" in table.c else table.c.order_date
        query = sa.select(table)
        if partition is not None:
            query = query.where(date_column == partition)
        query = query.order_by(*table.primary_key.columns)
        with self._service(f"reading {name}", partition), self.engine.connect() as connection:
            return pd.DataFrame(connection.execute(query).mappings().all(), columns=[c.name for c in table.columns])


def advisory_key(schema: str | None, name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock``."""
    digest = hashlib.sha256(f"revenue:{schema}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def dialect_insert(connection: Connection):
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def _ledger_values(record: DatasetRecord) -> dict:
    return {
        "dataset": record.dataset,
        "row_count": record.row_count,
        "rejected_count": record.rejected_count,
        "gate_status": record.gate_status,
        "gate_summary": json.dumps(record.gate_summary, sort_keys=True) if record.gate_summary else None,
        "lake_uri": record.lake_uri,
    }


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain Python values (numpy scalars and NaN converted) for the driver."""
    if frame.empty:
        return []
    plain = frame.astype("object").where(frame.notna(), None)
    return plain.to_dict(orient="records")


def _insert(connection: Connection, table: sa.Table, rows: list[dict]) -> None:
    """Insert rows inside the caller's transaction: ``COPY FROM STDIN`` on Postgres with
    psycopg 3 (an order of magnitude faster than executemany), else executemany."""
    if not rows:
        return
    columns = [c.name for c in table.columns if c.name in rows[0]]
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        from psycopg import sql

        target = sql.Identifier(table.schema, table.name) if table.schema else sql.Identifier(table.name)
        statement = sql.SQL("COPY {target} ({columns}) FROM STDIN").format(
            target=target, columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        )
        raw = connection.connection.driver_connection  # the transaction's own connection
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
        return
    connection.execute(table.insert(), [{c: row[c] for c in columns} for row in rows])
