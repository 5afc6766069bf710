"""The backfill scenarios, all in one process (see ``bench.child``):

1. ``first``: the ``backfill`` flow over fresh days (nothing cached, nothing in the ledger):
   every partition is extracted, gated and published.
2. ``cache_hit``: the same range again with ``skip_up_to_date=False``: every partition is a
   Prefect cache hit (its small result read from the lake), outcome ``cache hit``. Median of
   ``RERUN_REPEATS`` runs.
3. ``ledger_skip``: the same range again with the defaults (``skip_up_to_date=True``): every
   partition is ``up to date`` after one fingerprint query and one ledger query for the
   whole range. Median of ``RERUN_REPEATS`` runs.
4. ``bare``: the same partitions' work run bare (``bench.stages``) in this process, with the
   same number of partitions in flight (a thread pool of ``max_concurrency``).

Orchestration overhead per partition = (``first`` wall - ``bare`` wall) / partitions. The bare
run comes last, so it finds Postgres and the process at least as warm as the flow did: the
overhead figure errs on the high side. Proof that a rerun reads no order rows:
``testkit.counting.rows_read()`` (every row any extract of this process returned) does not move.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.child import CpuMeter, memory_snapshot, quiet_child
from testkit import counting

RERUN_REPEATS = 3
"""Reruns are cheap and this machine is noisy: each rerun scenario runs three times and
reports the median (every wall is kept in the JSON)."""


def backfill_scenarios(
    context: dict[str, Any], start_iso: str, end_iso: str, concurrency: int, reruns: int = RERUN_REPEATS
) -> dict[str, Any]:
    os.environ["PREFECT_API_URL"] = context["api_url"]
    quiet_child()
    from bench.partition import warm_up_engine
    from bench.stages import prepare_environment, run_partition_bare
    from flows.backfill import backfill
    from revenue.io.partition_input import plan_inputs
    from revenue.quality import warm_up

    warm_up()
    config = context["config"]
    server_pid = context.get("api_server_pid")
    env = prepare_environment(config)
    results_engine_warm_up_s = warm_up_engine(context)
    memory = {"before": memory_snapshot()}
    results: dict[str, Any] = {"max_concurrency": concurrency, "engine_warm_up_s": results_engine_warm_up_s}

    def timed_backfill(name: str, repeats: int = 1, **options: Any) -> None:
        """Run the backfill ``repeats`` times; keep the median run and every wall."""
        runs = []
        read_before = counting.rows_read()
        for _ in range(repeats):
            with CpuMeter(server_pid, os.getppid()) as cpu:
                started = time.perf_counter()
                state = backfill(
                    start=start_iso,
                    end=end_iso,
                    env=config,
                    max_concurrency=concurrency,
                    return_state=True,
                    **options,
                )
                wall = time.perf_counter() - started
            runs.append((wall, state, cpu.as_dict()))
        wall, state, cpu_figures = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
        outcomes = state.result(raise_on_failure=False)
        if not isinstance(outcomes, list):
            raise RuntimeError(f"backfill ({name}) ended {state.name}: {state.message}")
        tally: dict[str, int] = {}
        for outcome in outcomes:
            tally[outcome.outcome] = tally.get(outcome.outcome, 0) + 1
        results[name] = {
            "options": options,
            "wall_s": round(wall, 6),
            "walls_s": [round(run[0], 6) for run in runs],
            "state": state.name,
            "partitions": len(outcomes),
            "partitions_per_s": round(len(outcomes) / wall, 3),
            "outcomes": tally,
            "rows_extracted": counting.rows_read() - read_before,  # over every repeat
            **cpu_figures,
            "days": {
                o.partition: {
                    "outcome": o.outcome,
                    "revenue": None if o.revenue is None else float(o.revenue),
                    "order_count": o.order_count,
                }
                for o in outcomes
            },
        }
        memory[name] = memory_snapshot()

    timed_backfill("first")
    timed_backfill("cache_hit", repeats=reruns, skip_up_to_date=False)
    timed_backfill("ledger_skip", repeats=reruns)

    days = [
        dt.date.fromisoformat(start_iso) + dt.timedelta(days=i)
        for i in range((dt.date.fromisoformat(end_iso) - dt.date.fromisoformat(start_iso)).days + 1)
    ]
    read_before = counting.rows_read()
    with CpuMeter(server_pid, os.getppid()) as cpu:
        started = time.perf_counter()
        planned = plan_inputs(env, days)  # one fingerprint query for the range, as the flow
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            bare = list(pool.map(lambda day_input: run_partition_bare(env, day_input.partition, day_input), planned))
        wall = time.perf_counter() - started
    stage_sums: dict[str, float] = {}
    for run in bare:
        for stage, seconds in run["seconds"].items():
            stage_sums[stage] = round(stage_sums.get(stage, 0.0) + seconds, 6)
    results["bare"] = {
        "wall_s": round(wall, 6),
        "partitions": len(bare),
        "partitions_per_s": round(len(bare) / wall, 3),
        "rows_extracted": counting.rows_read() - read_before,
        **cpu.as_dict(),
        "stage_seconds_sum": stage_sums,
        "days": {r["partition"]: {"revenue": r["revenue"], "order_count": r["order_count"]} for r in bare},
    }
    memory["bare"] = memory_snapshot()
    partitions = len(days)
    results["overhead_per_partition_s"] = round((results["first"]["wall_s"] - wall) / partitions, 6)
    results["memory"] = memory
    return results
