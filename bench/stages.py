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
- ``publish``: both lake files (Parquet to S3) and ``Warehouse.publish`` (one transaction).

What the flow adds on top (task runs, result persistence to the lake, artifacts, the ledger
check) is the orchestration overhead the benchmark reports.
"""

from __future__ import annotations

import datetime as dt
import time
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


def run_partition_bare(env: Any, day: dt.date, planned: Any = None) -> dict[str, Any]:
    """Run every stage of ``day`` once; stage seconds, row counts and the revenue.

    ``planned``: the day's ``PartitionInput`` when the caller fingerprinted a whole range
    in one go, as the flows do; else it is computed here and timed as ``fingerprint``.
    """
    from revenue.io.lake import write_partition
    from revenue.io.partition_input import extract_partition, partition_inputs
    from revenue.io.warehouse import DatasetRecord, PartitionOutput
    from revenue.quality.gate import enforce, run_gate
    from revenue.transforms.aggregate import customer_daily_spend, daily_revenue
    from revenue.transforms.clean import clean_orders

    seconds = dict.fromkeys(STAGES, 0.0)
    clock = time.perf_counter

    started = clock()
    if planned is None:
        [planned] = partition_inputs(env, [day])
    fingerprint = planned.fingerprint
    seconds["fingerprint"] += clock() - started

    started = clock()
    raw, landed = extract_partition(env, day, list(planned.files))
    seconds["extract"] += clock() - started

    started = clock()
    raw_gate = enforce(run_gate("raw_orders", raw, day))
    seconds["gates"] += clock() - started

    started = clock()
    result = clean_orders(raw, day)
    cleaned, rejected = result.cleaned, result.rejected
    seconds["clean"] += clock() - started

    started = clock()
    cleaned_gate = enforce(run_gate("cleaned_orders", cleaned, day))
    seconds["gates"] += clock() - started

    started = clock()
    revenue = daily_revenue(cleaned, day)
    expected = {
        "expected_revenue": round(float(cleaned["amount"].sum()), 2),
        "expected_order_count": len(cleaned),
    }
    seconds["aggregate"] += clock() - started

    started = clock()
    revenue_gate = enforce(run_gate("daily_revenue", revenue, day, expected))
    seconds["gates"] += clock() - started

    started = clock()
    spend = customer_daily_spend(cleaned, day)
    seconds["aggregate"] += clock() - started

    started = clock()
    cleaned_file = write_partition(env.lake, "cleaned_orders", day, cleaned)
    revenue_file = write_partition(env.lake, "daily_revenue", day, revenue)
    raw_summary, cleaned_summary, revenue_summary = (
        raw_gate.summary(), cleaned_gate.summary(), revenue_gate.summary()
    )
    env.warehouse.publish(PartitionOutput(
        landed=tuple(landed),
        partition=day,
        fingerprint=fingerprint,
        run_id=None,
        daily_revenue=revenue,
        customer_daily_spend=spend,
        rejected=rejected,
        datasets=(
            DatasetRecord("raw_orders", len(raw), gate_status=raw_summary["status"], gate_summary=raw_summary),
            DatasetRecord(
                "cleaned_orders", len(cleaned), len(rejected), gate_status=cleaned_summary["status"],
                gate_summary=cleaned_summary, lake_uri=env.lake.uri(cleaned_file.key),
            ),
            DatasetRecord(
                "daily_revenue", len(revenue), gate_status=revenue_summary["status"],
                gate_summary=revenue_summary, lake_uri=env.lake.uri(revenue_file.key),
            ),
            DatasetRecord("customer_daily_spend", len(spend)),
        ),
    ))
    seconds["publish"] += clock() - started

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
