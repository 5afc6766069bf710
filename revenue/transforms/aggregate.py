"""Aggregates of cleaned orders, in whole cents: exact, and equal however they are summed.

- ``daily_revenue``: one row per day: ``order_date`` (date), ``revenue_cents`` (sum of
  ``amount_cents``, refunds included) and ``order_count``.
- ``customer_daily_spend``: one row per (day, customer): ``order_date``, ``customer_id``,
  ``daily_spend_cents`` (sum of that customer's amounts that day) and ``order_count``.

``with_money`` turns the ``*_cents`` columns into exact two-decimal amounts (``revenue``,
``daily_spend``) for the tables and files people read.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from revenue.contract import (
    INT64_MAX,
    INT64_MIN,
    cents_to_decimal,
    money_series,
    sum_cents,
)
from revenue.errors import DataError


def daily_revenue(cleaned: pd.DataFrame, partition: dt.date) -> pd.DataFrame:
    """One row for ``partition``; an empty day has revenue 0 and order_count 0."""
    total = _exact(sum_cents(cleaned["amount_cents"]), partition)
    return pd.DataFrame(
        {
            "order_date": [partition],
            "revenue_cents": pd.Series([total], dtype="int64"),
            "order_count": pd.Series([len(cleaned)], dtype="int64"),
        }
    )


def customer_daily_spend(cleaned: pd.DataFrame, partition: dt.date) -> pd.DataFrame:
    """One row per customer with at least one cleaned order on ``partition``."""
    groups = cleaned.groupby("customer_id", sort=True, observed=True)["amount_cents"]
    grouped = groups.agg(order_count="count").reset_index()
    largest = int(cleaned["amount_cents"].abs().max()) if len(cleaned) else 0
    if largest * len(cleaned) < INT64_MAX:  # no group's int64 sum can wrap
        grouped["daily_spend_cents"] = groups.sum().to_numpy()
    else:
        grouped["daily_spend_cents"] = [_exact(sum_cents(g), partition) for _, g in groups]
    grouped["daily_spend_cents"] = grouped["daily_spend_cents"].astype("int64")
    grouped["order_count"] = grouped["order_count"].astype("int64")
    grouped["customer_id"] = grouped["customer_id"].astype("str")
    grouped.insert(0, "order_date", partition)
    return grouped[["order_date", "customer_id", "daily_spend_cents", "order_count"]]


def _exact(total: int, partition: dt.date) -> int:
    """A total that whole int64 cents hold (about +-92 quadrillion), else a data error."""
    if not INT64_MIN <= total <= INT64_MAX:
        raise DataError(
            f"partition {partition.isoformat()}: a total of {cents_to_decimal(total):,} is too large to sum exactly"
        )
    return total


def with_money(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with each ``<name>_cents`` column replaced by an exact amount ``<name>``."""
    money = {c: c.removesuffix("_cents") for c in frame.columns if c.endswith("_cents")}
    if not money:  # the quarantine: nothing to convert, nothing to copy
        return frame
    converted = frame.assign(**{name: money_series(frame[c]) for c, name in money.items()})
    return converted.drop(columns=list(money))[[money.get(c, c) for c in frame.columns]]
