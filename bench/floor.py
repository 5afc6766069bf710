"""Prefect's own floor per task run, measured in the same run as the pipeline: a flow of 30
task runs shaped like ``compute_partition`` (cache key on name + partition, small result
persisted to the environment's result storage, ``refresh_cache`` like a forced backfill, 4
in flight on a thread pool) that do no work at all.

Two variants: ``bare_tasks`` (task runs only) and ``with_extras`` (each task run also writes
one markdown artifact and emits four asset events, as a partition does). The wall per task
run and the API server's CPU per task run are the part of the pipeline's orchestration
overhead that Prefect costs whatever the pipeline does.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.child import CpuMeter, quiet_child

TASKS = 30


def floor_scenarios(context: dict[str, Any], concurrency: int) -> dict[str, Any]:
    os.environ["PREFECT_API_URL"] = context["api_url"]
    quiet_child()
    from prefect import flow, task
    from prefect.artifacts import create_markdown_artifact
    from prefect.events import emit_event
    from prefect.task_runners import ThreadPoolTaskRunner

    from bench.stages import prepare_environment

    env = prepare_environment(context["config"])
    storage = env.result_storage
    stamp = str(time.time_ns())

    @task(
        name="floor_task",
        task_run_name="floor-{n}",
        persist_result=True,
        refresh_cache=True,
        cache_key_fn=lambda ctx, params: f"floor_task-{stamp}-{params['n']}",
        result_storage=storage,
    )
    def floor_task(n: int, extras: bool) -> dict[str, int]:
        if extras:
            create_markdown_artifact(key=f"floor-{n}", markdown=f"# floor {n}\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
            for asset in range(4):
                emit_event(
                    event="prefect.asset.materialization.succeeded",
                    resource={"prefect.resource.id": f"bench://floor/{asset}"},
                    payload={"n": n},
                )
        return {"n": n}

    @flow(name="prefect-floor", task_runner=ThreadPoolTaskRunner(max_workers=concurrency))  # type: ignore[arg-type]  # invariant generics
    def floor_flow(extras: bool) -> int:
        futures = [floor_task.submit(n, extras) for n in range(TASKS)]
        return sum(f.result()["n"] for f in futures)

    floor_flow(False)  # warm: the first flow run of a process pays one-off costs
    results: dict[str, Any] = {"tasks": TASKS, "max_concurrency": concurrency}
    for name, extras in (("bare_tasks", False), ("with_extras", True)):
        with CpuMeter(context.get("api_server_pid"), os.getppid()) as cpu:
            started = time.perf_counter()
            floor_flow(extras)
            wall = time.perf_counter() - started
        figures = cpu.as_dict()
        server = figures["api_server_cpu_s"]
        results[name] = {
            "wall_s": round(wall, 6),
            "wall_per_task_s": round(wall / TASKS, 6),
            "api_server_cpu_per_task_s": None if server is None else round(server / TASKS, 6),
            **figures,
        }
    return results
