"""Single-partition scenarios, each run in its own process (see ``bench.child``).

- ``bare_partition``: the stages run bare (``bench.stages``), ``repeats`` times.
- ``flow_partition``: the real ``daily_revenue`` flow through Prefect's engine with
  ``force=True`` on the same partition, ``repeats`` times.

Both import everything, warm Great Expectations (``revenue.quality.warm_up()``: the GX
import and context cost seconds once per process) and connect to the environment *before*
the clock starts; the flow's process also runs the flow once, untimed, on the smallest
partition. Memory: RSS after the imports, after GX warm-up, just before the first timed
partition, and the process's peak; the partition's delta is the peak minus the RSS just
before the first timed partition.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
import uuid
from typing import TYPE_CHECKING, Any

from bench.child import CpuMeter, memory_snapshot, quiet_child
from testkit import counting

if TYPE_CHECKING:
    from revenue.stages import PartitionOutcome


def _start(context: dict[str, Any]) -> dict[str, Any]:
    os.environ["PREFECT_API_URL"] = context["api_url"]
    quiet_child()
    return {"start": memory_snapshot()}


def _imports_and_warm_up(memory: dict[str, Any]) -> None:
    started = time.perf_counter()
    import flows.daily_revenue  # noqa: F401 - prefect, the flows, pandas, pyarrow, SQLAlchemy
    import revenue.io.environment  # noqa: F401

    memory["after_imports"] = memory_snapshot()
    memory["import_s"] = round(time.perf_counter() - started, 3)
    from revenue.quality import warm_up

    started = time.perf_counter()
    warm_up()
    memory["gx_warm_up_s"] = round(time.perf_counter() - started, 3)
    memory["after_gx_warm_up"] = memory_snapshot()


def warm_up_engine(context: dict[str, Any]) -> float:
    """One untimed ``daily_revenue`` run on the smallest partition, so the timed runs do not
    pay Prefect's once-per-process costs (client, flow and task registration). Returns its
    wall seconds (the JSON keeps it: a fresh deployment process pays it once)."""
    from flows.daily_revenue import daily_revenue

    started = time.perf_counter()
    state = daily_revenue(partition_date=context["warm_up_day"], env=context["config"], force=True, return_state=True)
    state.result()
    return round(time.perf_counter() - started, 3)


def median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run whose ``key`` is the (lower) median."""
    ordered = sorted(runs, key=lambda r: r[key])
    return ordered[(len(ordered) - 1) // 2]


def bare_partition(context: dict[str, Any], day_iso: str, repeats: int) -> dict[str, Any]:
    memory = _start(context)
    _imports_and_warm_up(memory)
    from bench.stages import prepare_environment, run_partition_bare

    env = prepare_environment(context["config"])
    memory["before_partition"] = memory_snapshot()
    day = dt.date.fromisoformat(day_iso)
    runs = []
    for _ in range(repeats):
        with CpuMeter(None) as cpu:
            run = run_partition_bare(env, day)
        runs.append({**run, "process_cpu_s": cpu.process_cpu_s})
    memory["end"] = memory_snapshot()
    memory["partition_delta_mb"] = round(memory["end"]["peak_rss_mb"] - memory["before_partition"]["rss_mb"], 1)
    chosen = median_run(runs, "total_s")
    return {
        "median": chosen,
        "runs": runs,
        "repeats": repeats,
        "memory": memory,
        "rows_extracted": counting.rows_read(),
    }


def flow_partition(context: dict[str, Any], day_iso: str, repeats: int) -> dict[str, Any]:
    memory = _start(context)
    _imports_and_warm_up(memory)
    from bench.stages import prepare_environment, published_revenue
    from flows.daily_revenue import daily_revenue

    prepare_environment(context["config"])
    memory["engine_warm_up_s"] = warm_up_engine(context)
    memory["before_partition"] = memory_snapshot()
    runs: list[dict[str, Any]] = []
    for _ in range(repeats):
        extracted = counting.rows_read()
        with CpuMeter(context.get("api_server_pid"), os.getppid()) as cpu:
            started = time.perf_counter()
            state = daily_revenue(partition_date=day_iso, env=context["config"], force=True, return_state=True)
            wall = time.perf_counter() - started
        outcome = _the_outcome(state.result(), day_iso)
        read = counting.rows_read() - extracted
        if outcome.outcome != "published" or not read:
            raise RuntimeError(
                f"timed flow run of {day_iso} was {outcome.outcome!r} after reading {read} rows: "
                "force=True should recompute and publish; its timing would be meaningless"
            )
        runs.append(
            {
                "wall_s": round(wall, 6),
                "outcome": outcome.outcome,
                "revenue": published_revenue(outcome.revenue, day_iso),
                "order_count": outcome.order_count,
                "rejected": outcome.rejected_count,
                "gates": outcome.gates,
                "rows_extracted": read,
                "flow_run_id": str(state.state_details.flow_run_id),
                **cpu.as_dict(),
            }
        )
    memory["end"] = memory_snapshot()
    memory["partition_delta_mb"] = round(memory["end"]["peak_rss_mb"] - memory["before_partition"]["rss_mb"], 1)
    chosen = median_run(runs, "wall_s")
    task_seconds = _task_seconds(chosen["flow_run_id"])
    return {
        "median": chosen,
        "runs": runs,
        "repeats": repeats,
        "memory": memory,
        "task_seconds": task_seconds,
        "wall_samples_s": [r["wall_s"] for r in runs],
        "wall_stdev_s": round(statistics.pstdev(r["wall_s"] for r in runs), 6),
    }


def _task_seconds(flow_run_id: str) -> dict[str, float] | dict[str, str]:
    """Wall seconds of each task run of the flow run, from the Prefect API, keyed by task
    name. A task run ends when its Completed state is set; persisting its result to the lake
    happens after that (on the transaction's commit), so it is not in these figures."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    try:
        with get_client(sync_client=True) as client:
            task_runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[uuid.UUID(flow_run_id)]))
            )
    except Exception as error:  # informational only
        return {"error": str(error)}
    seconds: dict[str, float] = {}
    for run in task_runs:
        if run.start_time and run.end_time:
            name = _task_name(run.name)
            seconds[name] = round(seconds.get(name, 0.0) + (run.end_time - run.start_time).total_seconds(), 6)
    return seconds


def _task_name(run_name: str) -> str:
    """``raw_orders-a1b`` -> ``raw_orders``; ``partition-2025-06-01`` -> ``partition``."""
    if run_name.startswith("partition-"):
        return "partition"
    head, _, suffix = run_name.rpartition("-")
    return head if head and len(suffix) == 3 else run_name


def _the_outcome(result: Any, day_iso: str) -> PartitionOutcome:
    """The flow's ``PartitionOutcome`` of ``day_iso`` (the flow returns one, or a list)."""
    if isinstance(result, (list, tuple)):
        matching = [o for o in result if o.partition == day_iso]
        if len(matching) != 1:
            raise RuntimeError(f"daily_revenue returned {len(result)} outcomes, none (or several) for {day_iso}")
        return matching[0]
    return result
