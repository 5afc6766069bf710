"""Gates run concurrently in a backfill: parameterised suites give each thread its own
verdict. (The pyparsing first-call race fixed by the validation lock is timing-dependent;
the 2-partition backfill in tests/integration reproduced it before the fix.)"""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from revenue.quality.gate import run_gate


def test_parameterised_gates_in_parallel_threads_all_evaluate():
    def gate(i: int) -> str:
        day = dt.date(2026, 3, 1) + dt.timedelta(days=i % 5)
        frame = pd.DataFrame({"order_date": [day], "revenue_cents": [i * 100], "order_count": [i]})
        expected = {"expected_revenue_cents": i * 100, "expected_order_count": i, "expected_customer_orders": i}
        result = run_gate("daily_revenue", frame, day, expected)
        return result.status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(gate, range(48)))
    assert statuses == ["passed"] * 48
