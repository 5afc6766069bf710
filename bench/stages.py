"""One partition's work run bare: the same functions the flow's tasks call, without Prefect.

Stages, in the order the flow runs them, each timed with ``time.perf_counter``:

- ``fingerprint``: the partition's input: its fingerprint and landed files
  (``revenue.io.partition_input.plan_inputs``: aggregate queries, no rows read);
- ``extract``: the partition's raw rows (``revenue.stages.raw_orders`` without its gate:
  ``OrdersSource.extract``, COPY ... TO STDOUT into pyarrow on Postgres, and its landed files);
- ``clean``: ``revenue.stages.cleaned_orders`` without its gate;
- ``gates``: the three Great Expectations gates (``raw_orders``, ``cleaned_orders``,
  ``daily_revenue``), timed inside the stages; no Prefect artifacts;
- ``aggregate``: ``revenue.stages.aggregates`` without its gate (``daily_revenue``,
  ``customer_daily_spend`` and the sums the ``daily_revenue`` gate reconciles to);
- ``publish``: ``revenue.stages.publish``, the ``publish`` task's work: both lake files
  (Parquet to S3) and ``revenue.io.warehouse.publish.publish`` (one transaction).

What the flow adds on top (task runs, result persistence to the lake, artifacts, the ledger
check) is the orchestration overhead the benchmark reports.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from revenue.io.environment import Environment
    from revenue.io.partition_input import PartitionInput

STAGES = ("fingerprint", "extract", "clean", "gates", "aggregate", "publish")
"""Every stage of a bare partition, in order."""

ISSUE_STAGES = ("extract", "clean", "gates", "aggregate", "publish")
"""The stages the end-to-end figure covers (the fingerprint is reported on its own)."""


def prepare_environment(config: str) -> Environment:
    """Load the environment's blocks, connect both engines and create the warehouse tables,
    so no scenario times one-off setup of its process."""
    from revenue.io.environment import environment
    from testkit import counting

    counting.install()  # the scenarios report the order rows each run read

    env = environment(config)
    env.source.columns()
    env.warehouse.ensure_tables()
    with env.source.engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    env.lake  # noqa: B018 - builds the S3 client
    return env


def run_partition_bare(env: Environment, day: dt.date, planned: PartitionInput | None = None) -> dict[str, Any]:
    """Run every stage of ``day`` once (``revenue.stages.compute`` and ``publish``, as the
    flow's task does, without Prefect); stage seconds, row counts and the revenue.

    ``planned``: the day's ``PartitionInput`` when the caller planned a whole range in one
    go, as the flows do; else it is planned here and timed as ``fingerprint``.
    """
    from revenue import stages
    from revenue.io.partition_input import plan_inputs

    started = time.perf_counter()
    if planned is None:
        [planned] = plan_inputs(env, [day])
    fingerprint_s = time.perf_counter() - started
    computed = stages.compute(env, planned)
    outcome = stages.publish(env, computed, None)
    seconds = {"fingerprint": fingerprint_s, **computed.timings.seconds}
    return {
        "partition": day.isoformat(),
        "seconds": {k: round(seconds[k], 6) for k in STAGES},
        "total_s": round(sum(seconds[k] for k in STAGES), 6),
        "end_to_end_s": round(sum(seconds[s] for s in ISSUE_STAGES), 6),
        "raw_rows": computed.raw.rows,
        "cleaned_rows": len(computed.cleaned.cleaned),
        "rejected_rows": len(computed.cleaned.rejected),
        "customers": len(computed.totals.spend),
        "revenue": published_revenue(outcome.revenue, day),
        "order_count": outcome.order_count,
        "gates": outcome.gates,
    }


def published_revenue(revenue: Decimal | None, day: dt.date | str) -> float:
    """The revenue a run published (a publish always sets it)."""
    if revenue is None:
        raise RuntimeError(f"{day}: the run published no revenue")
    return float(revenue)
