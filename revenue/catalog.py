"""The datasets of the pipeline, each declared once: its name, its grain, where it is stored,
whether a quality suite judges it, and so which Prefect asset keys name it.

Everything else reads this (the warehouse's tables, the lake writer, the gates, the asset
events, the grid's lineage line); a new dataset is a line here first. (Kedro's ``catalog.yml``
and dbt's ``sources.yml`` play this part; here it is Python, so a typo is an import error.)

Asset keys follow from where a dataset is stored: ``postgres://host:port/db/schema/table``
(or ``sqlite://path/table``) for a warehouse table or the source table, ``s3://bucket/folder/
dataset`` (or ``file://...``) for a lake folder (``revenue.io.environment.Environment.asset_keys``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Storage = Literal["source", "warehouse", "lake"]


@dataclass(frozen=True)
class Dataset:
    name: str
    grain: str
    """One row per ...: what a row is."""
    stored_in: tuple[Storage, ...]
    """Where it is kept: the source database (read), warehouse tables and lake Parquet files
    (written for every published partition). Empty: it lives only while a partition computes."""
    gated: bool
    """A Great Expectations suite judges it (``revenue.quality.suites``) before anything is published."""

    @property
    def in_warehouse(self) -> bool:
        return "warehouse" in self.stored_in

    @property
    def in_lake(self) -> bool:
        return "lake" in self.stored_in


ORDERS = Dataset("orders", "one row per version of an order (order_id, updated_at)", ("source",), gated=False)
RAW_ORDERS = Dataset("raw_orders", "one row per source row of the day, as extracted", (), gated=True)
CLEANED_ORDERS = Dataset(
    "cleaned_orders", "one row per order_id of the day (its newest version, typed)", ("lake",), gated=True
)
DAILY_REVENUE = Dataset("daily_revenue", "one row per day: revenue, order_count", ("warehouse", "lake"), gated=True)
CUSTOMER_DAILY_SPEND = Dataset(
    "customer_daily_spend", "one row per (day, customer_id): daily_spend, order_count", ("warehouse",), gated=False
)
REJECTED_ORDERS = Dataset(
    "rejected_orders", "one row per quarantined source row, with its reason", ("warehouse",), gated=False
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


def dataset(name: str) -> Dataset:
    """The declaration of ``name`` (a ``KeyError`` names the unknown dataset)."""
    return BY_NAME[name]
