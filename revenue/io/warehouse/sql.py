"""SQL helpers the warehouse modules and the bookkeeping tables' owners share: bulk insert,
id batches, exact money sums and what differs between Postgres and SQLite."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from revenue.contract import CENT
from revenue.io.warehouse.types import MONEY_PRECISION, Money

ID_BATCH = 10_000
"""Ids per ``IN`` list off Postgres (SQLite allows 32,766 bound values per statement)."""
DENSE_IDS = 4
"""Integer ids spanning at most this many times their number are looked up as one range."""


def id_batches(column: sa.ColumnElement[Any], ids: Iterable[object], dialect: str) -> Iterator[sa.ColumnElement[bool]]:
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


def dialect_insert(connection: Connection) -> Callable[[sa.Table], Any]:
    """The dialect's ``insert`` (it has ``on_conflict_do_update``)."""
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def inexact_money(connection: Connection, table: sa.Table, present: dict[str, Any]) -> bool:
    """A money column an older version made narrower (``numeric(18, 2)``), or that SQLite
    stores as a float (``NUMERIC``)."""
    for column in (c for c in table.columns if isinstance(c.type, Money) and c.name in present):
        found = present[column.name]
        if connection.dialect.name == "sqlite" and not isinstance(found, sa.Text):
            return True
        if connection.dialect.name != "sqlite" and getattr(found, "precision", MONEY_PRECISION) != MONEY_PRECISION:
            return True
    return False


def money_sum(connection: Connection, column: sa.Column[Any]) -> sa.ColumnElement[Any]:
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


def money_total(connection: Connection, value: Any) -> Decimal:
    """What ``money_sum`` returned, as an exact amount."""
    if value is None:
        return Decimal("0.00")
    if connection.dialect.name == "sqlite":
        return (Decimal(int(value)) / 100).quantize(CENT)
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def quoted(connection: Connection, *names: str) -> str:
    """Dotted, quoted identifiers (``"schema"."table"``) for the DDL SQLAlchemy has no construct for."""
    preparer = connection.dialect.identifier_preparer
    return ".".join(preparer.quote_identifier(n) for n in names)


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
