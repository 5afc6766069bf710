"""Time the quality gates: validate the three gated frames of one day ``--rounds`` times.

    .venv/bin/python scripts/time_gates.py --rounds 50 --orders 10000 --threads 1

Prints the time per round (raw_orders + cleaned_orders + daily_revenue gates) once GX is
warm: wall clock, the median round, and the process's CPU time (steadier on a busy
machine). With ``--threads N`` the rounds are spread over N threads, to see whether
concurrent gates in one process finish sooner than sequential ones.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from revenue.quality import run_gate, warm_up

DAY = dt.date(2026, 3, 1)


def gated_frames(orders: int) -> dict[str, tuple[pd.DataFrame, dict[str, int]]]:
    """One day's raw_orders, cleaned_orders and daily_revenue frames with their parameters."""
    start = pd.Timestamp(DAY, tz="UTC")
    offsets = pd.to_timedelta(np.linspace(0, 86_399_999_999, orders).astype("int64"), unit="us")
    ids = np.arange(orders, dtype="int64") + 1000
    cents = ids % 5000 + 25
    raw = pd.DataFrame(
        {
            "order_id": ids.astype(str),
            "customer_id": [f"c-{i % 997}" for i in range(orders)],
            "amount": [f"{c / 100:.2f}" for c in cents],
            "order_date": (start + offsets).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
    )
    cleaned = pd.DataFrame(
        {
            "order_id": ids,
            "customer_id": pd.Series(raw["customer_id"], dtype="str"),
            "amount_cents": cents,
            "order_date": pd.Series(start + offsets).astype("datetime64[us, UTC]"),
        }
    )
    total = int(cents.sum())
    revenue = pd.DataFrame(
        {
            "order_date": [DAY],
            "revenue_cents": pd.Series([total], dtype="int64"),
            "order_count": pd.Series([orders], dtype="int64"),
        }
    )
    return {
        "raw_orders": (raw, {}),
        "cleaned_orders": (cleaned, {"expected_rows": orders}),
        "daily_revenue": (
            revenue,
            {"expected_revenue_cents": total, "expected_order_count": orders, "expected_customer_orders": orders},
        ),
    }


def one_round(frames: dict[str, tuple[pd.DataFrame, dict[str, int]]]) -> float:
    """Seconds to run the three gates once; raises if a gate does not pass."""
    began = time.perf_counter()
    for dataset, (frame, parameters) in frames.items():
        status = run_gate(dataset, frame, DAY, parameters).status
        if status != "passed":
            raise RuntimeError(f"{dataset} gate {status}")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    warm_up()
    frames = gated_frames(args.orders)
    one_round(frames)  # first validation builds GX's metric caches
    began, cpu_began = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        rounds = list(pool.map(lambda _: one_round(frames), range(args.rounds)))
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    print(
        f"{args.rounds} rounds x 3 gates, {args.orders} orders, {args.threads} thread(s): "
        f"wall {wall:.2f} s, {wall / args.rounds * 1000:.1f} ms/round wall, "
        f"median round {statistics.median(rounds) * 1000:.1f} ms, "
        f"CPU {cpu / args.rounds * 1000:.1f} ms/round"
    )


if __name__ == "__main__":
    main()
