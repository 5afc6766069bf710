"""Demo data: realistic orders for a date range, deterministic for a given seed.

Besides ordinary orders it contains what real sources do: null customer ids and
amounts, refunds (negative amounts), re-sent orders (the same ``order_id`` again with
a later ``updated_at`` and possibly a corrected amount) and orders seconds around
midnight UTC.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from revenue.partitions import day_bounds, partition_range

CHANNELS = np.array(["web", "ios", "android", "store"])


def generate_orders(
    start: dt.date, end: dt.date, orders_per_day: int = 200, seed: int = 7, first_id: int = 1
) -> pd.DataFrame:
    """Orders for every day of ``[start, end]``; same arguments, same rows."""
    rng = np.random.default_rng(seed)
    frames = []
    next_id = first_id
    for day in partition_range(start, end):
        frames.append(_one_day(rng, day, orders_per_day, next_id))
        next_id += orders_per_day
    return pd.concat(frames, ignore_index=True)


def _one_day(rng: np.random.Generator, day: dt.date, n: int, first_id: int) -> pd.DataFrame:
    start, _ = day_bounds(day)
    seconds = rng.integers(0, 86_400, n)
    seconds[: max(1, n // 100)] = rng.choice([0, 1, 86_398, 86_399], max(1, n // 100))
    order_date = pd.Timestamp(start) + pd.to_timedelta(seconds, unit="s")
    amount = np.round(rng.lognormal(mean=3.4, sigma=0.7, size=n), 2)
    refunds = rng.random(n) < 0.03
    amount[refunds] = -np.round(amount[refunds] / 2, 2)
    customers = max(10, n // 8)
    frame = pd.DataFrame(
        {
            "order_id": np.arange(first_id, first_id + n, dtype="int64"),
            "customer_id": pd.array([f"C{c:06d}" for c in rng.integers(1, customers + 1, n)], dtype="str"),
            "amount": amount,
            "order_date": order_date,
            "updated_at": order_date + pd.to_timedelta(rng.integers(0, 600, n), unit="s"),
            "channel": CHANNELS[rng.integers(0, len(CHANNELS), n)],
        }
    )
    frame.loc[rng.random(n) < 0.01, "customer_id"] = None
    frame.loc[rng.random(n) < 0.005, "amount"] = np.nan
    resent = frame.sample(frac=0.02, random_state=int(rng.integers(0, 2**31))).copy()
    resent["updated_at"] = resent["updated_at"] + pd.Timedelta(minutes=30)
    resent["amount"] = np.round(resent["amount"] * 1.1, 2)
    return pd.concat([frame, resent], ignore_index=True)
