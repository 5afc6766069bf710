"""Scaling with the range: forced backfills of the first 30, 90 and 365 days (10k orders a
day), one flow run each, in one process warmed like the backfill scenario's.

Reports each range's wall, the time per partition, the process's and the Prefect API
server's CPU per partition, and the least-squares slope of wall over partitions (the
marginal cost of one more partition, fixed costs removed).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

from bench.child import CpuMeter, memory_snapshot, quiet_child


def scaling_scenarios(context: dict[str, Any], start_iso: str, lengths: list[int], concurrency: int) -> dict[str, Any]:
    os.environ["PREFECT_API_URL"] = context["api_url"]
    quiet_child()
    from bench.partition import warm_up_engine
    from bench.stages import prepare_environment
    from flows.backfill import backfill
    from revenue.quality import warm_up

    warm_up()
    prepare_environment(context["config"])
    warm_up_engine(context)
    start = dt.date.fromisoformat(start_iso)
    runs: list[dict[str, Any]] = []
    for n in lengths:
        end = start + dt.timedelta(days=n - 1)
        with CpuMeter(context.get("api_server_pid"), os.getppid()) as cpu:
            started = time.perf_counter()
            state = backfill(
                start=start_iso,
                end=end.isoformat(),
                env=context["config"],
                force=True,
                max_concurrency=concurrency,
                return_state=True,
            )
            wall = time.perf_counter() - started
        outcomes = state.result(raise_on_failure=False)
        if not isinstance(outcomes, list):
            raise RuntimeError(f"forced backfill of {n} days ended {state.name}: {state.message}")
        figures = cpu.as_dict()
        runs.append(
            {
                "partitions": n,
                "wall_s": round(wall, 6),
                "per_partition_s": round(wall / n, 6),
                "process_cpu_per_partition_s": round(cpu.process_cpu_s / n, 6),
                "api_server_cpu_per_partition_s": None
                if cpu.api_server_cpu_s is None
                else round(cpu.api_server_cpu_s / n, 6),
                "published": sum(o.outcome == "published" for o in outcomes),
                **figures,
            }
        )
    return {
        "runs": runs,
        "slope_s_per_partition": slope([(r["partitions"], r["wall_s"]) for r in runs]),
        "memory": memory_snapshot(),
        "max_concurrency": concurrency,
    }


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x."""
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return round(sum((x - mean_x) * (y - mean_y) for x, y in points) / spread, 6) if spread else None
