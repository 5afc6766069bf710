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
  ``order_moves``, ``landed_row_rejects``: ``revenue.io.landing.tables``).

Money columns are exact (``revenue.io.warehouse.types.Money``): ``numeric(38, 2)``.
"""

from __future__ import annotations

import sqlalchemy as sa

from revenue import catalog
from revenue.io import activity, heal_log
from revenue.io.landing import tables as landing_tables
from revenue.io.warehouse import ledger
from revenue.io.warehouse.types import COLUMN_TYPES


def build_metadata(schema: str | None) -> sa.MetaData:
    """Every warehouse table: the published ones and each owner's bookkeeping tables."""
    metadata = sa.MetaData(schema=schema)
    for dataset in catalog.PUBLISHED:
        published_table(metadata, dataset)
    landing_tables.declare(metadata)
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
