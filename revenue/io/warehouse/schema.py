"""The warehouse's tables (in ``schema``; SQLite has none), each with a primary key on its grain.

- The published tables, built from ``revenue.catalog`` (a dataset with a ``table``): its
  columns, their types and its key. ``daily_revenue``: one row per ``order_date``;
  ``customer_daily_spend``: one row per (``order_date``, ``customer_id``); ``rejected_orders``:
  one row per quarantined input row of a partition's published version (``attempt =
  'published'``) or of its latest failed attempt (``attempt = 'failed'``).
- The bookkeeping tables, each declared by the module that owns it: ``partition_ledger``
  (``revenue.io.warehouse.ledger``), ``partition_runs`` and ``heartbeats``
  (``revenue.io.activity``), ``heal_requests`` (``revenue.io.heal_log``), and the landed
  files' tables (``landing_registry``, ``landing_registry_days``, ``landed_orders``,
  ``order_moves``, ``landed_row_rejects``: ``revenue.io.registry``).

Money columns are exact (``revenue.io.warehouse.types.Money``): ``numeric(38, 2)``.
"""

from __future__ import annotations

import sqlalchemy as sa

from revenue import catalog
from revenue.io import activity, heal_log
from revenue.io.warehouse import ledger
from revenue.io.warehouse.types import COLUMN_TYPES, TIMESTAMP


def build_metadata(schema: str | None) -> sa.MetaData:
    """Every warehouse table: the published ones and each owner's bookkeeping tables."""
    metadata = sa.MetaData(schema=schema)
    for dataset in catalog.PUBLISHED:
        published_table(metadata, dataset)
    _landing_tables(metadata)
    ledger.declare(metadata)
    activity.declare(metadata)
    heal_log.declare(metadata)
    return metadata


def published_table(metadata: sa.MetaData, dataset: catalog.Dataset) -> sa.Table:
    """The dataset's warehouse table: its catalog columns, keyed on its grain."""
    columns = [
        sa.Column(c.name, COLUMN_TYPES[c.type], primary_key=c.key, nullable=c.nullable and not c.key)
        for c in dataset.columns
    ]
    return sa.Table(dataset.warehouse_table(), metadata, *columns)


def _landing_tables(metadata: sa.MetaData) -> None:
    """The landed files' tables (``revenue.io.registry``)."""
    sa.Table(
        "landing_registry",
        metadata,
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("uri", sa.Text, nullable=False, index=True),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("etag", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("registered_at", TIMESTAMP, nullable=False),
        sa.Column("registered_by", sa.Text, nullable=False),
        sa.Column("announced_at", TIMESTAMP),
        sa.Column("read_status", sa.Text, nullable=False),
        sa.Column("read_at", TIMESTAMP),
        sa.Column("rows", sa.BigInteger),
        sa.Column("error", sa.Text),
        sa.Column("lease_owner", sa.Text),  # who reads it now (pending only), until lease_expires
        sa.Column("lease_expires", TIMESTAMP),
        sa.Column("read_attempts", sa.Integer),  # readings started (a third after two stopped: unreadable)
        sa.Column("orders_recorded", sa.Boolean),  # its landed_orders rows are written (null: read before them)
    )
    sa.Table(
        "landing_registry_days",
        metadata,
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("partition_date", sa.Date, primary_key=True, index=True),
        sa.Column("rows", sa.BigInteger, nullable=False),
    )
    sa.Table(
        "landed_orders",
        metadata,
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("order_id", sa.BigInteger, primary_key=True, index=True),
        sa.Column("partition_date", sa.Date, primary_key=True),
        sa.Column("latest", sa.Boolean, nullable=False),
    )
    sa.Table(
        "order_moves",
        metadata,
        sa.Column("from_day", sa.Date, primary_key=True),
        sa.Column("order_id", sa.BigInteger, primary_key=True),
        sa.Column("to_day", sa.Date, nullable=False, index=True),
        sa.Column("origin", sa.Text, nullable=False),
    )
    sa.Table(
        "landed_row_rejects",
        metadata,
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("line", sa.BigInteger, primary_key=True),
        sa.Column("order_id", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )
