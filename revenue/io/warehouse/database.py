"""``Warehouse``: the tables of one environment on one engine: creating them (and bringing
an older version's tables up to date), the write transaction that holds a day's lock, and
reading a table. Publishing is ``revenue.io.warehouse.publish``; the ledger
``revenue.io.warehouse.ledger``; the tables ``revenue.io.warehouse.schema``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from revenue.io.errors import service
from revenue.io.warehouse.schema import build_metadata
from revenue.io.warehouse.sql import advisory_key, inexact_money, quoted

log = logging.getLogger(__name__)

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

    def service(self, action: str, partition: dt.date | None = None) -> AbstractContextManager[None]:
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
            if not inexact_money(connection, table, present) and all(c.nullable for c in missing):
                for column in missing:  # a column a newer version added: added in place, rows kept
                    column_type = column.type.compile(dialect=connection.dialect)
                    connection.execute(
                        sa.text(
                            f"ALTER TABLE {quoted(connection, *filter(None, (self.schema, table.name)))} "
                            f"ADD COLUMN {quoted(connection, column.name)} {column_type}"
                        )
                    )
                    log.info("%s: added column %s to %s", self.label, column.name, table.name)
                continue
            if self.schema:
                retired = f"{self.schema}_retired_{stamp}"
                connection.execute(sa.schema.CreateSchema(retired, if_not_exists=True))
                connection.execute(
                    sa.text(
                        f"ALTER TABLE {quoted(connection, self.schema, table.name)} "
                        f"SET SCHEMA {quoted(connection, retired)}"
                    )
                )
            else:  # SQLite: index names are global and stay with a renamed table
                retired = f"{table.name}_retired_{stamp}"
                for index in inspector.get_indexes(table.name):
                    connection.execute(sa.text(f"DROP INDEX {quoted(connection, str(index['name']))}"))
                connection.execute(
                    sa.text(f"ALTER TABLE {quoted(connection, table.name)} RENAME TO {quoted(connection, retired)}")
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

    def read_range(self, name: str, start: dt.date, end: dt.date) -> list[sa.Row[Any]]:
        """The rows of a partitioned table whose day is in ``[start, end]``, sorted by its key
        (one query, bounded by its date column: the rest of the table is not read)."""
        self.ensure_tables()
        table = self.table(name)
        date_column = table.c.partition_date if "partition_date" in table.c else table.c.order_date
        query = sa.select(table).where(date_column.between(start, end)).order_by(*table.primary_key.columns)
        with self.service(f"reading {name} {start}..{end}"), self.engine.connect() as connection:
            return list(connection.execute(query))
