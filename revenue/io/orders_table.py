"""The orders source table: creating it and loading rows into it (demo, tests, bench).

Grain: one row per order version (``order_id`` may repeat; nulls allowed, as in real
sources). Columns: ``order_id`` (bigint), ``customer_id`` (text), ``amount``
(numeric), ``order_date`` (timestamptz; UTC text in SQLite), ``updated_at``,
``channel``. Indexed on ``order_date`` so a partition's fingerprint is cheap, and on
``(order_id, order_date)`` so a day finds its orders' versions on other days cheaply (an
index range scan over the day's ids, filtered by date inside the index).
"""

from __future__ import annotations

import io

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

SQLITE_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"


def orders_table(name: str = "orders", schema: str | None = None, sqlite: bool = False) -> sa.Table:
    timestamp = sa.Text if sqlite else sa.DateTime(timezone=True)
    metadata = sa.MetaData(schema=schema)
    return sa.Table(
        name,
        metadata,
        sa.Column("order_id", sa.BigInteger),
        sa.Column("customer_id", sa.Text),
        sa.Column("amount", sa.Numeric(12, 2)),
        sa.Column("order_date", timestamp),
        sa.Column("updated_at", timestamp),
        sa.Column("channel", sa.Text),
        sa.Index(f"{name}_order_date_idx", "order_date"),
        sa.Index(f"{name}_order_id_idx", "order_id", "order_date"),
    )


def create_orders_table(
    engine: Engine, name: str = "orders", schema: str | None = None, replace: bool = False
) -> sa.Table:
    sqlite = engine.dialect.name == "sqlite"
    table = orders_table(name, None if sqlite else schema, sqlite)
    with engine.begin() as connection:
        if table.schema:
            connection.execute(sa.schema.CreateSchema(table.schema, if_not_exists=True))
        if replace:
            table.drop(connection, checkfirst=True)
        table.create(connection, checkfirst=True)
    return table


def load_orders(engine: Engine, frame: pd.DataFrame, name: str = "orders", schema: str | None = None) -> int:
    """Append ``frame`` to the orders table (COPY on Postgres). Returns rows written."""
    if engine.dialect.name == "postgresql" and engine.driver == "psycopg":
        return _copy_orders(engine, frame, name, schema)
    rows = frame.copy()
    if engine.dialect.name == "sqlite":
        for column in ("order_date", "updated_at"):
            if column in rows and pd.api.types.is_datetime64_any_dtype(rows[column]):
                rows[column] = rows[column].dt.tz_convert("UTC").dt.strftime(SQLITE_TIMESTAMP)
    table = orders_table(name, None if engine.dialect.name == "sqlite" else schema, engine.dialect.name == "sqlite")
    records = rows.astype("object").where(rows.notna(), None).to_dict(orient="records")
    with engine.begin() as connection:
        if records:
            connection.execute(table.insert(), records)
    return len(records)


def _copy_orders(engine: Engine, frame: pd.DataFrame, name: str, schema: str | None) -> int:
    from psycopg import sql

    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, date_format="%Y-%m-%d %H:%M:%S.%f%z")
    target = sql.Identifier(schema, name) if schema else sql.Identifier(name)
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    statement = sql.SQL("COPY {target} ({columns}) FROM STDIN WITH (FORMAT csv)").format(target=target, columns=columns)
    with engine.begin() as connection:
        from revenue.io.copy_out import driver_connection

        raw = driver_connection(connection)
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            copy.write(buffer.getvalue())
    return len(frame)
