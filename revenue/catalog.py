"""The datasets of the pipeline, each declared once and whole: its name, grain, key and
columns, the datasets it is made from, the quality suite that judges it, and where it is
stored (the source table, a lake folder, a warehouse table).

Everything else is built from this: the warehouse's published tables
(``revenue.io.warehouse.schema``), the lake writer's folders and columns
(``revenue.io.lake``), the gates (``revenue.quality.suites`` holds each suite's content),
the lineage of the asset events and of the status grid, the asset keys
(``revenue.io.environment.Environment.asset_keys``) and the table of datasets in
``docs/architecture.md`` (``python -m revenue.catalog --write docs/architecture.md``).
A new dataset, or a new column, is a line here first. (Kedro's ``catalog.yml`` and dbt's
model ``.yml`` play this part; here it is Python, so a typo is an import error.)

Nothing here imports pandas, SQLAlchemy, Prefect or Great Expectations.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

Storage = Literal["source", "warehouse", "lake"]
ColumnType = Literal["bigint", "text", "date", "timestamp", "money", "json"]
"""``money``: an exact amount with two decimals (``numeric(38, 2)`` on Postgres, decimal text
on SQLite, ``Decimal`` in Python); ``json``: JSON text; ``timestamp``: with a time zone."""
WrittenBy = Literal["transform", "publish"]
"""``transform``: the stage computes the column (the lake file has it too); ``publish``: the
warehouse adds it when it publishes (the run, the version, the attempt), so only the
warehouse table has it."""


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    key: bool = False
    """Part of the dataset's key (its grain): the warehouse table's primary key."""
    nullable: bool = False
    written_by: WrittenBy = "transform"


@dataclass(frozen=True)
class Dataset:
    name: str
    grain: str
    """One row per ...: what a row is."""
    columns: tuple[Column, ...]
    upstream: tuple[str, ...] = ()
    """The datasets it is computed from (names in this catalog)."""
    suite: str | None = None
    """The Great Expectations suite that judges it before anything is published (its
    expectations are in ``revenue.quality.suites``); None: no gate."""
    lake_path: str | None = None
    """The lake folder its Parquet files go in (``<lake_path>/order_date=YYYY-MM-DD/``)."""
    table: str | None = None
    """The warehouse table it is published to."""
    in_source: bool = False
    """Read from the source database's orders table (not written by the pipeline)."""

    @property
    def gated(self) -> bool:
        return self.suite is not None

    @property
    def in_warehouse(self) -> bool:
        return self.table is not None

    @property
    def in_lake(self) -> bool:
        return self.lake_path is not None

    @property
    def stored_in(self) -> tuple[Storage, ...]:
        """Where it is kept; empty: it lives only while a partition computes."""
        places: tuple[tuple[Storage, bool], ...] = (
            ("source", self.in_source),
            ("warehouse", self.in_warehouse),
            ("lake", self.in_lake),
        )
        return tuple(place for place, kept in places if kept)

    def warehouse_table(self) -> str:
        """The name of its warehouse table.

        Raises:
            ValueError: when it is not published to the warehouse.
        """
        if self.table is None:
            raise ValueError(f"{self.name} has no warehouse table")
        return self.table

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.key)

    def column_names(self, written_by: WrittenBy | None = None) -> tuple[str, ...]:
        """Its columns' names, in order (only those ``written_by`` when given)."""
        return tuple(c.name for c in self.columns if written_by in (None, c.written_by))


def _publish(name: str, type: ColumnType, key: bool = False, nullable: bool = False) -> Column:
    return Column(name, type, key=key, nullable=nullable, written_by="publish")


VERSION_COLUMN = "updated_at"
"""The orders' optional version column: when an input has it, the newest version of a
duplicated order wins."""

ORDERS = Dataset(
    "orders",
    "one row per version of an order (order_id, updated_at)",
    (
        Column("order_id", "bigint", key=True),
        Column("customer_id", "text"),
        Column("amount", "money"),
        Column("order_date", "timestamp"),
        Column(VERSION_COLUMN, "timestamp", key=True, nullable=True),
    ),
    in_source=True,
)
RAW_ORDERS = Dataset(
    "raw_orders",
    "one row per source row or landed file row of the day, as extracted (no key: rows may repeat)",
    tuple(replace(c, key=False) for c in ORDERS.columns),
    upstream=(ORDERS.name,),
    suite="raw_orders_suite",
)
CLEANED_ORDERS = Dataset(
    "cleaned_orders",
    "one row per order_id of the day (its newest version, typed)",
    (
        Column("order_id", "bigint", key=True),
        Column("customer_id", "text"),
        Column("amount", "money"),
        Column("order_date", "timestamp"),
    ),
    upstream=(RAW_ORDERS.name,),
    suite="cleaned_orders_suite",
    lake_path="cleaned_orders",
)
DAILY_REVENUE = Dataset(
    "daily_revenue",
    "one row per day",
    (
        Column("order_date", "date", key=True),
        Column("revenue", "money"),
        Column("order_count", "bigint"),
        _publish("fingerprint", "text"),
        _publish("run_id", "text", nullable=True),
        _publish("published_at", "timestamp"),
    ),
    upstream=(CLEANED_ORDERS.name,),
    suite="daily_revenue_suite",
    lake_path="daily_revenue",
    table="daily_revenue",
)
CUSTOMER_DAILY_SPEND = Dataset(
    "customer_daily_spend",
    "one row per (day, customer_id)",
    (
        Column("order_date", "date", key=True),
        Column("customer_id", "text", key=True),
        Column("daily_spend", "money"),
        Column("order_count", "bigint"),
    ),
    upstream=(CLEANED_ORDERS.name,),
    table="customer_daily_spend",
)
REJECTED_ORDERS = Dataset(
    "rejected_orders",
    "one row per quarantined input row of a day's published version or of its latest failed attempt",
    (
        _publish("partition_date", "date", key=True),
        _publish("attempt", "text", key=True),
        Column("origin", "text", key=True),
        Column("line", "bigint", key=True),
        Column("landing_seq", "bigint", nullable=True),
        Column("order_id", "text", nullable=True),
        Column("reason", "text"),
        Column("record", "json"),
        _publish("run_id", "text", nullable=True),
    ),
    upstream=(RAW_ORDERS.name,),
    table="rejected_orders",
)

CATALOG: tuple[Dataset, ...] = (
    ORDERS,
    RAW_ORDERS,
    CLEANED_ORDERS,
    DAILY_REVENUE,
    CUSTOMER_DAILY_SPEND,
    REJECTED_ORDERS,
)
BY_NAME = {dataset.name: dataset for dataset in CATALOG}
GATED: tuple[str, ...] = tuple(d.name for d in CATALOG if d.gated)
"""The datasets a quality suite judges, in the order the stages produce them."""
PUBLISHED: tuple[Dataset, ...] = tuple(d for d in CATALOG if d.in_warehouse)
"""The datasets published to warehouse tables."""
IN_LAKE: tuple[Dataset, ...] = tuple(d for d in CATALOG if d.in_lake)
"""The datasets written to the lake, one file per published partition."""

ORDER_COLUMNS: tuple[str, ...] = tuple(c.name for c in ORDERS.columns if not c.nullable)
"""The columns every orders input must have (the source table, each landed file)."""
QUARANTINE_COLUMNS: tuple[str, ...] = REJECTED_ORDERS.column_names("transform")
"""A quarantined row's shape as the clean stage writes it (the warehouse adds the partition,
the attempt and the run)."""
FILE_REJECT_COLUMNS: tuple[str, ...] = tuple(c for c in QUARANTINE_COLUMNS if c not in ("origin", "landing_seq"))
"""A quarantined row as a landed file's reader writes it: the registry knows the file
(``origin``) and its landing (``landing_seq``)."""


def dataset(name: str) -> Dataset:
    """The declaration of ``name`` (a ``KeyError`` names the unknown dataset)."""
    return BY_NAME[name]


def stored_upstream(name: str) -> tuple[str, ...]:
    """The stored datasets ``name`` is made from: its upstream, looking through the ones
    that live only while a partition computes (``raw_orders``), in catalog order."""
    found: list[str] = []
    for parent in dataset(name).upstream:
        for stored in (parent,) if dataset(parent).stored_in else stored_upstream(parent):
            if stored not in found:
                found.append(stored)
    return tuple(found)


def lineage() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each stored dataset that others are made from, with the stored datasets made from
    it, in catalog order: ``(("orders", ("cleaned_orders", "rejected_orders")), ...)``."""
    edges = []
    for upstream in CATALOG:
        downstream = tuple(d.name for d in CATALOG if d.stored_in and upstream.name in stored_upstream(d.name))
        if downstream:
            edges.append((upstream.name, downstream))
    return tuple(edges)


BEGIN, END = "<!-- catalog:begin -->", "<!-- catalog:end -->"
"""The lines around the generated table of datasets in a Markdown page."""


def _code(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "—"


def _stored(d: Dataset) -> str:
    places = []
    if d.in_source:
        places.append("source orders table")
    if d.lake_path is not None:
        places.append(f"lake `{d.lake_path}/`")
    if d.table is not None:
        places.append(f"warehouse `{d.table}`")
    return ", ".join(places) or "— (only while a partition computes)"


def _columns(d: Dataset) -> str:
    return ", ".join(
        f"`{c.name}` {c.type}{'?' if c.nullable else ''}{' (publish)' if c.written_by == 'publish' else ''}"
        for c in d.columns
    )


def markdown_table() -> str:
    """The datasets as a Markdown table (``?``: nullable; ``(publish)``: added by the
    warehouse when it publishes), ending with a newline."""
    lines = [
        "| dataset | grain | key | columns | stored in | upstream | suite |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in CATALOG:
        suite = f"`{d.suite}`" if d.suite else "—"
        cells = (f"`{d.name}`", d.grain, _code(d.key), _columns(d), _stored(d), _code(d.upstream), suite)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _region(lines: list[str]) -> tuple[int, int] | None:
    """The indices of the single ``BEGIN`` and ``END`` lines, in that order (None otherwise)."""
    starts = [i for i, line in enumerate(lines) if line.strip() == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        return None
    return starts[0], ends[0]


def generated_region(text: str) -> str | None:
    """What is between the ``BEGIN`` and ``END`` lines of ``text`` (None without both)."""
    lines = text.splitlines(keepends=True)
    region = _region(lines)
    return None if region is None else "".join(lines[region[0] + 1 : region[1]])


def with_table(text: str) -> str:
    """``text`` with the region between ``BEGIN`` and ``END`` replaced by ``markdown_table()``.

    Raises:
        ValueError: when the text lacks the two lines.
    """
    lines = text.splitlines(keepends=True)
    region = _region(lines)
    if region is None:
        raise ValueError(f"no single {BEGIN} ... {END} region to write the table of datasets into")
    start, end = region
    return "".join([*lines[: start + 1], markdown_table(), *lines[end:]])


def main(argv: list[str]) -> int:
    """``python -m revenue.catalog``: print the table; ``--write PAGE``: rewrite its region."""
    if not argv:
        sys.stdout.write(markdown_table())
        return 0
    if len(argv) == 2 and argv[0] == "--write":
        page = Path(argv[1])
        page.write_text(with_table(page.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    sys.stderr.write("usage: python -m revenue.catalog [--write docs/architecture.md]\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
