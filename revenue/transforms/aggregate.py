"""Aggregates of cleaned orders.

- ``daily_revenue``: one row per day: ``order_date`` (date), ``revenue`` (sum of
  ``amount``, refunds included, rounded to cents) and ``order_count``.
- ``customer_daily_spend``: one row per (day, customer): ``order_date``, ``customer_id``,
  ``daily_spend`` (sum of that customer's amounts that day) and ``order_count``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

CENTS = 2


def daily_revenue(cleaned: pd.DataFrame, partition: dt.date) -> pd.DataFrame:
    """One row for ``partition``; an empty day has revenue 0 and order_count 0."""
    revenue = round(float(cleaned["amount"].sum()), CENTS) if len(cleaned) else 0.0
    return pd.DataFrame(
        {
            "order_date": [partition],
            "revenue": pd.Series([revenue], dtype="float64"),
            "order_count": pd.Series([len(cleaned)], dtype="int64"),
        }
    )


def customer_daily_spend(cleaned: pd.DataFrame, partition: dt.date) -> pd.DataFrame:
    """One row per customer with at least one cleaned order on ``partition``."""
    grouped = (
        cleaned.groupby("customer_id", sort=True, observed=True)["amount"]
        .agg(daily_spend="sum", order_count="count")
        .reset_index()
    )
    grouped["daily_spend"] = grouped["daily_spend"].round(CENTS).astype("float64")
    grouped["order_count"] = grouped["order_count"].astype("int64")
    grouped["customer_id"] = grouped["customer_id"].astype("str")
    grouped.insert(0, "order_date", partition)
    return grouped[["order_date", "customer_id", "daily_spend", "order_count"]]
