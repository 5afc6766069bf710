"""Helpers shared by integration tests: loading orders and reading what was published."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from revenue.io.environment import environment
from revenue.io.orders_table import create_orders_table, load_orders

UTC = dt.timezone.utc


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def orders_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (order_id, customer_id, amount, order_date[, updated_at])."""
    frame = pd.DataFrame(
        [r if len(r) == 5 else (*r, r[3]) for r in rows],
        columns=["order_id", "customer_id", "amount", "order_date", "updated_at"],
    )
    frame["order_date"] = pd.to_datetime(frame["order_date"], utc=True, format="ISO8601")
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True, format="ISO8601")
    frame["order_id"] = frame["order_id"].astype("Int64")
    frame["channel"] = "web"
    return frame


def seed_orders(config: str, rows: list[tuple], replace: bool = True) -> None:
    engine = environment(config).source.engine
    create_orders_table(engine, replace=replace)
    load_orders(engine, orders_frame(rows))
    environment(config).source._columns = None


def published(config: str, table: str, day: dt.date | None = None) -> pd.DataFrame:
    frame = environment(config).warehouse.read_table(table, day)
    return frame.drop(columns=[c for c in ("run_id", "published_at") if c in frame.columns])
