"""The landing tables (in the warehouse's schema), declared on the warehouse's metadata by
``revenue.io.warehouse.schema.build_metadata``. Their grain:

- ``landing_registry``: one row per landing of a file version: ``seq`` (the landing order),
  ``uri``, ``key``, ``etag``, ``size``, who registered it and when, when its event was
  announced, and its ``read_status`` (``revenue.io.landing.versions.ReadStatus``) with
  ``read_at``, ``rows`` and ``error``. While pending, its read lease (``lease_owner``
  host:pid:token, ``lease_expires``, ``read_attempts``: ``revenue.io.landing.leases``);
  ``orders_recorded``: its ``landed_orders`` rows are written (null: read before them).
- ``landing_registry_days``: one row per (``seq``, ``partition_date``) a read landing has
  rows on, with the number of ``rows``.
- ``landed_orders``: one row per (``seq``, ``order_id``, ``partition_date``) a read landing
  has a valid version of the order on; ``latest`` marks the day of the file's newest version
  of it. Indexed by ``order_id`` (``revenue.io.landing.orders``).
- ``landed_row_rejects``: one row per (``seq``, ``line``) of a read landing that no
  partition can take, with its ``reason`` and the raw ``record``.
- ``order_moves``: one row per (``from_day``, ``order_id``) of an order whose version on
  ``from_day`` is outranked by its version on ``to_day`` (from ``origin``): written by the
  publish of either day (``revenue.io.warehouse``), and part of ``from_day``'s input
  (``revenue.transforms.identity``).
"""

from __future__ import annotations

import sqlalchemy as sa


def declare(metadata: sa.MetaData) -> None:
    """Add the landing tables to ``metadata``."""
    from revenue.io.warehouse.types import TIMESTAMP

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
