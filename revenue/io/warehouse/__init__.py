"""The warehouse: the published tables and the bookkeeping tables of one environment.

- ``types``: the column types every table uses (``Money``: exact two decimals).
- ``schema``: the tables: the published ones built from ``revenue.catalog``, and each
  bookkeeping table declared by the module that owns it.
- ``database``: ``Warehouse`` (an engine and a schema): creating and upgrading the tables,
  the per-day write transaction, reading a table.
- ``publish``: publishing a partition in one transaction, and recording a failed attempt.
- ``ledger``: the partition ledger (``partition_ledger``) and what reads it.
- ``sql``: small SQL helpers (bulk insert, id batches, dialect differences).
"""
