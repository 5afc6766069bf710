"""Source reader: the orders table, one day partition at a time.

Grain of the source: one row per order version; ``order_id`` may repeat (the cleaner
keeps the newest). Contract: ``orders(order_id, customer_id, amount, order_date, ...)``
where ``order_date`` is a timestamp (``timestamptz`` in Postgres; UTC text
``YYYY-MM-DD HH:MM:SS`` in SQLite). Extra columns are carried through.

Postgres is read through ``COPY (SELECT ...) TO STDOUT`` (``revenue.io.copy_out``) into pyarrow
(columnar, ~9x faster than ``pd.read_sql``); other databases through SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from revenue.contract import REQUIRED_COLUMNS
from revenue.errors import ConfigurationError
from revenue.io.errors import service
from revenue.partitions import day_bounds
from revenue.transforms.fingerprint import ROW_HASHES, RowHashes, fingerprint

log = logging.getLogger(__name__)

ORDER_DATE = "order_date"
UPDATED_AT = "updated_at"
FINGERPRINT_BATCH = 200
"""Days per fingerprint query (SQLite allows 500 terms in a compound SELECT)."""


@dataclass
class OrdersSource:
    """Reads the orders of one partition from a database (never mutates it)."""

    engine: Engine
    table: str = "orders"
    schema: str | None = None
    _columns: dict[str, sa.types.TypeEngine[Any]] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def label(self) -> str:
        """A credential-free name of the source, for messages: ``postgresql:db.orders``."""
        database = self.engine.url.database or ""
        if self.dialect == "sqlite":
            database = database.rsplit("/", 1)[-1]
        qualified = f"{self.schema}.{self.table}" if self.schema else self.table
        return f"{self.dialect}:{database}/{qualified}"

    def columns(self) -> list[str]:
        return list(self._column_types())

    def _column_types(self) -> dict[str, sa.types.TypeEngine[Any]]:
        with self._lock:
            if self._columns is None:
                inspector = sa.inspect(self.engine)
                try:
                    self._columns = {
                        c["name"]: c["type"] for c in inspector.get_columns(self.table, schema=self.schema)
                    }
                except sa.exc.NoSuchTableError:
                    self._columns = {}
                if not self._columns:
                    raise ConfigurationError(f"source table {self.label} does not exist")
            return self._columns

    def _arrow_types(self) -> dict[str, pa.DataType]:
        """How COPY's CSV text is read back, by the columns' SQL types, never guessed from
        the values: text stays text (``"0123"`` keeps its zero), integers are int64, and
        numerics with a scale are exact decimals (read without a Python object per value)."""
        types: dict[str, pa.DataType] = {}
        for name, column in self._column_types().items():
            if isinstance(column, sa.String):
                types[name] = pa.string()
            elif isinstance(column, sa.Integer):
                types[name] = pa.int64()
            elif isinstance(column, sa.Numeric) and not isinstance(column, sa.Float):
                scale = column.scale
                types[name] = pa.decimal128(38, scale) if scale is not None and 0 <= scale <= 9 else pa.string()
        return types

    def _service(self, action: str, partition: dt.date | None = None) -> AbstractContextManager[None]:
        return service(f"source database {self.label}", action, partition)

    def _table(self, partition: dt.date | None = None) -> sa.TableClause:
        with self._service("reading the table's columns", partition):
            columns = self.columns()
        return sa.table(self.table, *(sa.column(c) for c in columns), schema=self.schema)

    def _bounds(self, partition: dt.date) -> tuple[object, object]:
        start, end = day_bounds(partition)
        if self.dialect == "sqlite":
            # SQLite stores UTC text; date strings compare correctly against it.
            return start.date().isoformat(), end.date().isoformat()
        return start, end

    def _in_partition(self, table: sa.TableClause, partition: dt.date, unique: bool = False) -> sa.ColumnElement[bool]:
        start, end = self._bounds(partition)
        column = table.c[ORDER_DATE]
        return sa.and_(
            column >= sa.bindparam("start", start, unique=unique),
            column < sa.bindparam("end", end, unique=unique),
        )

    def order_rows(self, first: dt.date, last: dt.date) -> tuple[int, int]:
        """Rows with an ``order_date`` in ``[first, last]`` and the largest ``order_id`` of
        the whole table (0 when it is empty): what ``revenue seed`` checks before loading."""
        table = self._table(first)
        (start, _), (_, end) = self._bounds(first), self._bounds(last)
        column = table.c[ORDER_DATE]
        with self._service("counting rows", first), self.engine.connect() as connection:
            held = connection.execute(
                sa.select(sa.func.count()).select_from(table).where(column >= start, column < end)
            ).scalar()
            top = connection.execute(sa.select(sa.func.max(table.c["order_id"]))).scalar()
        return int(held or 0), int(top or 0)

    def first_order_day(self) -> dt.date | None:
        """The UTC day of the earliest ``order_date`` in the table, None when it is empty:
        one query (``min`` of the indexed column), no row read."""
        table = self._table()
        with self._service("finding the first order"), self.engine.connect() as connection:
            first = connection.execute(sa.select(sa.func.min(table.c[ORDER_DATE]))).scalar()
        if first is None:
            return None
        if isinstance(first, dt.datetime):
            return (first.astimezone(dt.timezone.utc) if first.tzinfo else first).date()
        return dt.date.fromisoformat(str(first)[:10])  # SQLite: UTC text ``YYYY-MM-DD HH:MM:SS``

    def fingerprint(self, partition: dt.date) -> str:
        """A digest of the day's rows from one aggregate query (no rows are read)."""
        return self.fingerprints([partition])[partition]

    def fingerprints(self, partitions: list[dt.date]) -> dict[dt.date, str]:
        """The fingerprint of each day (``fingerprints_and_rows`` without the counts)."""
        return {day: found for day, (found, _) in self.fingerprints_and_rows(partitions).items()}

    def fingerprints_and_rows(self, partitions: list[dt.date]) -> dict[dt.date, tuple[str, int]]:
        """The fingerprint of each day and its number of source rows, from aggregate
        queries only (no rows are read).

        One round trip per ``FINGERPRINT_BATCH`` days: a ``UNION ALL`` of the same per-day
        aggregate, each branch an index range scan on ``order_date``. A day without rows
        has a fingerprint too (count 0), so a day that empties is seen as changed. Each
        aggregate includes a sum of hashes of the rows' contract columns (``_row_hashes``),
        so an in-place edit that keeps every count and sum is seen too.
        """
        found: dict[dt.date, tuple[str, int]] = {}
        for first in range(0, len(partitions), FINGERPRINT_BATCH):
            batch = partitions[first : first + FINGERPRINT_BATCH]
            table = self._table(batch[0])
            query = sa.union_all(*(self._day_aggregates(table, day) for day in batch))
            with (
                self._service("fingerprinting", batch[0] if len(batch) == 1 else None),
                self.engine.connect() as connection,
            ):
                if self.dialect == "sqlite":
                    register_row_hashes(connection)
                rows = connection.execute(query).mappings().all()
            for row in rows:
                values = dict(row)
                day = dt.date.fromisoformat(values.pop("partition_day"))
                found[day] = (fingerprint({"source": self.label, "partition": day, **values}), int(values["rows"]))
        return found

    def _day_aggregates(self, table: sa.TableClause, partition: dt.date) -> sa.Select[Any]:
        aggregates: list[sa.ColumnElement[Any]] = [
            sa.literal(partition.isoformat(), sa.String).label("partition_day"),
            sa.func.count().label("rows"),
            sa.func.count(table.c.order_id).label("with_order_id"),
            sa.func.count(table.c.customer_id).label("with_customer_id"),
            sa.func.count(table.c.amount).label("with_amount"),
            sa.func.sum(table.c.amount).label("amount"),
            sa.func.min(table.c.order_id).label("min_id"),
            sa.func.max(table.c.order_id).label("max_id"),
        ]
        if UPDATED_AT in table.c:
            aggregates.append(sa.func.max(table.c[UPDATED_AT]).label("newest"))
        aggregates.append(self._row_hashes(table).label("row_hashes"))
        return sa.select(*aggregates).where(self._in_partition(table, partition, unique=True))

    def _row_hashes(self, table: sa.TableClause) -> sa.ColumnElement[Any]:
        """The sum of a 64-bit hash of each row's contract columns: it changes with any edit
        of them, whatever the order of the rows (``revenue.transforms.fingerprint``).

        Postgres (14 or later): ``hash_record_extended`` of the row, typed (a NULL is not
        ``''``; a timestamp hashes the same in any session time zone), hashed again as text
        because ``hash_record_extended`` is a linear mix of the columns' hashes, whose sum
        over rows would miss values swapped between rows. ``sum`` of ``bigint`` is
        ``numeric`` in Postgres: no overflow. SQLite: the ``RowHashes`` aggregate."""
        columns = [table.c[c] for c in self._version_columns(table)]
        if self.dialect == "sqlite":
            return getattr(sa.func, ROW_HASHES)(*columns)
        seed: sa.ColumnElement[int] = sa.literal_column("0", sa.BigInteger)
        record = sa.func.hash_record_extended(sa.tuple_(*columns), seed)
        return sa.func.sum(sa.func.hashtextextended(sa.cast(record, sa.Text), seed))

    def rows(self, partition: dt.date, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
        """The partition's rows as plain tuples of ``columns`` (those the table has; a missing
        one is None): the same rows ``extract`` returns, without pandas."""
        table = self._table(partition)
        selected = [table.c[c] if c in table.c else sa.null().label(c) for c in columns]
        query = sa.select(*selected).where(self._in_partition(table, partition))
        with self._service("reading rows", partition), self.engine.connect() as connection:
            return [tuple(r) for r in connection.execute(query)]

    def extract(self, partition: dt.date) -> pd.DataFrame:
        """Every source row of the partition, all columns, as a DataFrame."""
        with self._service("extracting", partition):
            if self.dialect == "postgresql" and self.engine.driver == "psycopg":
                frame = self._extract_copy(partition)
            else:
                table = self._table(partition)
                query = sa.select(table).where(self._in_partition(table, partition))
                with self.engine.connect() as connection:
                    frame = pd.read_sql(query, connection)
        return frame

    def _extract_copy(self, partition: dt.date) -> pd.DataFrame:
        import pyarrow.csv as pacsv
        from psycopg import sql

        from revenue.io.copy_out import copy_csv

        start, end = day_bounds(partition)
        target = sql.Identifier(self.schema, self.table) if self.schema else sql.Identifier(self.table)
        statement = sql.SQL(
            "COPY (SELECT * FROM {target} WHERE {column} >= {start} AND {column} < {end}) "
            "TO STDOUT WITH (FORMAT csv, HEADER true)"
        ).format(
            target=target,
            column=sql.Identifier(ORDER_DATE),
            start=sql.Literal(start),
            end=sql.Literal(end),
        )
        buffer = io.BytesIO()
        with self.engine.connect() as connection:
            copy_csv(connection, statement, buffer.write)
        buffer.seek(0)
        table = pacsv.read_csv(
            buffer,
            convert_options=pacsv.ConvertOptions(
                column_types=self._arrow_types(), strings_can_be_null=True, quoted_strings_can_be_null=False
            ),
        )
        return table.to_pandas(types_mapper=lambda t: pd.ArrowDtype(t) if pa.types.is_decimal(t) else None)

    def versions_elsewhere(self, partition: dt.date | None, order_ids: list[int]) -> pd.DataFrame:
        """The rows of these orders on other days than ``partition`` (on any day when it is
        None): the contract's columns, ``updated_at`` when the table has it, values as
        stored. One query by ``order_id`` per batch of ids; the source needs an index on
        ``order_id`` for it to stay cheap (``revenue.io.orders_table`` creates one)."""
        from revenue.io.warehouse.sql import id_batches

        table = self._table(partition)
        columns = self._version_columns(table)
        as_text = not isinstance(self._column_types().get("order_id"), sa.Integer)
        ids = [str(i) for i in order_ids] if as_text else [int(i) for i in order_ids]
        frames = []
        for where in id_batches(table.c.order_id, ids, self.dialect):
            query = sa.select(*(table.c[c] for c in columns)).where(where)
            if partition is not None:
                query = query.where(sa.not_(self._in_partition(table, partition, unique=True)))
            with self._service("reading other versions of orders", partition), self.engine.connect() as connection:
                frames.append(pd.DataFrame(connection.execute(query).mappings().all(), columns=columns))
        found = _joined(frames, columns)
        return found[found["order_id"].isin(ids)].reset_index(drop=True) if len(found) else found

    def versions_on(self, partitions: list[dt.date]) -> pd.DataFrame:
        """The contract's columns of every row of these days (``FINGERPRINT_BATCH`` days a
        query, each an index range scan on ``order_date``)."""
        columns: list[str] = []
        frames = []
        for first in range(0, len(partitions), FINGERPRINT_BATCH):
            batch = partitions[first : first + FINGERPRINT_BATCH]
            table = self._table(batch[0])
            columns = self._version_columns(table)
            days = sa.or_(*(self._in_partition(table, day, unique=True) for day in batch))
            query = sa.select(*(table.c[c] for c in columns)).where(days)
            with self._service("reading the orders of changed days"), self.engine.connect() as connection:
                frames.append(pd.DataFrame(connection.execute(query).mappings().all(), columns=columns))
        return _joined(frames, columns)

    @staticmethod
    def _version_columns(table: sa.TableClause) -> list[str]:
        """The contract's columns, and ``updated_at`` when the table has it: what a
        version of an order is (and what the row hashes cover)."""
        return [c for c in (*REQUIRED_COLUMNS, UPDATED_AT) if c in table.c]


def register_row_hashes(connection: sa.Connection) -> None:
    """Make ``RowHashes`` callable in SQL on this SQLite connection (cheap; idempotent)."""
    raw = connection.connection.driver_connection
    if raw is None:
        raise RuntimeError("the SQLAlchemy connection has no driver connection (closed?)")
    raw.create_aggregate(ROW_HASHES, -1, RowHashes)


def _joined(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    found = [f for f in frames if len(f)]
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=columns)
