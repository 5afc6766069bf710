"""One partition's work run bare: the same functions the flow's tasks call, without Prefect.

Stages, in the order the flow runs them, each timed with ``time.perf_counter``:

- ``fingerprint``: the partition's fingerprint and landed files
  (``revenue.io.partition_input.partition_inputs``: aggregate queries, no rows read);
- ``extract``: the partition's raw rows (``OrdersSource.extract``: COPY ... TO STDOUT into
  pyarrow on Postgres; merged with its landed files);
- ``clean``: ``clean_orders``;
- ``gates``: the three Great Expectations gates (``raw_orders``, ``cleaned_orders``,
  ``daily_revenue``) with ``run_gate`` + ``enforce``; no Prefect artifacts;
- ``aggregate``: ``daily_revenue`` + ``customer_daily_spend`` (and the expected sums the
  ``daily_revenue`` gate is given);
- ``publish``: ``flows.partition.publish_partition``, the ``publish`` task's work: both lake
  files (Parquet to S3) and ``Warehouse.publish`` (one transaction).

What the flow adds on top (task runs, result persistence to the lake, artifacts, the ledger
check) is the orchestration overhead the benchmark reports.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

STAGES = ("fingerprint", "extract", "clean", "gates", "aggregate", "publish")
"""Every stage of a bare partition, in order."""

ISSUE_STAGES = ("extract", "clean", "gates", "aggregate", "publish")
"""The stages the end-to-end figure covers (the fingerprint is reported on its own)."""


def prepare_environment(config: str):
    """Load the environment's blocks, connect both engines and create the warehouse tables,
    so no scenario times one-off setup of its process."""
    from revenue.io.environment import environment

    env = environment(config)
    env.source.columns()
    env.warehouse.ensure_tables()
    with env.source.engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    env.lake  # noqa: B018 - builds the S3 client
    return env


@contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    """Add the block's wall time to ``seconds[stage]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[stage] += time.perf_counter() - started


def run_partition_bare(env: Any, day: dt.date, planned: Any = None) -> dict[str, Any]:
    """Run every stage of ``day`` once; stage seconds, row counts and the revenue.

    ``planned``: the day's ``PartitionInput`` when the caller fingerprinted a whole range
    in one go, as the flows do; else it is computed here and timed as ``fingerprint``.
    """
    from flows.partition import CleanedStage, GatedFrame, publish_partition
    from revenue.io.partition_input import extract_partition, partition_inputs
    from revenue.quality.gate import enforce, run_gate
    from revenue.quality.suites import reconciliation_parameters
    from revenue.transforms.aggregate import customer_daily_spend, daily_revenue
    from revenue.transforms.clean import clean_orders

    seconds = dict.fromkeys(STAGES, 0.0)
    with _timed(seconds, "fingerprint"):
        if planned is None:
            [planned] = partition_inputs(env, [day])
    with _timed(seconds, "extract"):
        raw, landed = extract_partition(env, day, list(planned.files))
    with _timed(seconds, "gates"):
        raw_gate = enforce(run_gate("raw_orders", raw, day))
    with _timed(seconds, "clean"):
        result = clean_orders(raw, day)
        cleaned, rejected = result.cleaned, result.rejected
    with _timed(seconds, "gates"):
        cleaned_gate = enforce(run_gate("cleaned_orders", cleaned, day))
    with _timed(seconds, "aggregate"):
        revenue = daily_revenue(cleaned, day)
        expected = reconciliation_parameters(cleaned)
    with _timed(seconds, "gates"):
        revenue_gate = enforce(run_gate("daily_revenue", revenue, day, expected))
    with _timed(seconds, "aggregate"):
        spend = customer_daily_spend(cleaned, day)
    raw_summary, cleaned_summary, revenue_summary = (
        raw_gate.summary(), cleaned_gate.summary(), revenue_gate.summary()
    )
    with _timed(seconds, "publish"):
        publish_partition(
            env, day, planned.fingerprint, None,
            raw=GatedFrame(raw, raw_summary, tuple(landed)),
            cleaned=CleanedStage(cleaned, rejected, cleaned_summary),
            revenue=GatedFrame(revenue, revenue_summary),
            spend=GatedFrame(spend, {"status": "not gated"}),
        )

    row = revenue.iloc[0]
    return {
        "partition": day.isoformat(),
        "seconds": {k: round(v, 6) for k, v in seconds.items()},
        "total_s": round(sum(seconds.values()), 6),
        "end_to_end_s": round(sum(seconds[s] for s in ISSUE_STAGES), 6),
        "raw_rows": len(raw),
        "cleaned_rows": len(cleaned),
        "rejected_rows": len(rejected),
        "customers": len(spend),
        "revenue": float(row["revenue"]),
        "order_count": int(row["order_count"]),
        "gates": {
            "raw_orders": raw_summary["status"],
            "cleaned_orders": cleaned_summary["status"],
            "daily_revenue": revenue_summary["status"],
        },
    }
