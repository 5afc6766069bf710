"""Single-run vs multi-run backfill (issue 15), through a live Prefect server as production
self-hosts it: ``prefect server start`` on its own Postgres (``postgres_server_for_prefect``),
the ``backfill/range`` deployment from prefect.yaml on a process pool, and two process
workers (``--limit 3`` each).

Both modes are forced backfills of the same ``days`` days (10k orders a day), started with
``create_flow_run_from_deployment`` and timed from creation to the parent's final state:

- ``single``: one run, ``max_concurrency=4`` (every day a task of one process);
- ``multi``: ``partitions_per_run=per_run``, chunk runs with ``max_concurrency=2``, which both
  workers take.

For each: wall, per day, the CPU of the Prefect API server's process tree (the server and
anything it started) and of its Postgres, the runs created, and the workers that ran them.
On one 2-core machine the two "workers" share the same cores, so multi-run cannot be faster
here: what this shows is what a chunk run costs (a process, imports, a flow run) and the
server's load per day in each mode; on N machines the work divides N ways.

``python -m bench.multi_run`` (``make bench-multi-run``) runs this scenario alone: the
benchmark's services, ``--days`` days of orders loaded (default 90 x 10k), then both modes;
``python -m bench --only multi_run`` runs it inside the benchmark's report. ``make bench``
leaves it out (minutes, and judged by no target).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.plan import Log

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKERS = ("bench-worker-a", "bench-worker-b")
MULTI_RUN_DAYS = 90
"""The range (the scaling scenario's loaded days, if fewer): 6 chunks of 15 days."""


def tree_cpu_s(root: int | None) -> float | None:
    """CPU seconds (user + system) of ``root`` and every live descendant, plus what their
    exited children used (``cutime``/``cstime``: a Postgres backend that ended is counted in
    its postmaster's), from Linux /proc."""
    from bench.child import process_stats, ticks_s

    if not root:
        return None
    stats = process_stats()
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += ticks_s(stats[pid], 11, 14) if pid in stats else 0.0
        stack.extend(children.get(pid, []))
    return total


@contextmanager
def live_stack(context: dict[str, Any], log: Log) -> Iterator[tuple[dict[str, str], int | None, str]]:
    """A Prefect server on Postgres, the environment's blocks, the ``range`` deployment and
    two process workers; yields the environment the CLI calls get and the server's pid."""
    from sqlalchemy.engine import make_url

    from testkit.services import (
        fresh_database,
        live_prefect_server,
        pg_s3_environ,
        postgres_server_for_prefect,
        process_workers,
    )

    with (
        tempfile.TemporaryDirectory(prefix="bench-prefect-") as home,
        postgres_server_for_prefect() as admin,
        fresh_database(admin) as prefect_db,
    ):
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REVENUE_", "AWS_"))}
        env = {
            **base,
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT),
            "PREFECT_API_DATABASE_CONNECTION_URL": make_url(prefect_db)
            .set(drivername="postgresql+asyncpg")
            .render_as_string(hide_password=False),
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "REVENUE_ENV": context["config"],
            "REVENUE_PROJECT_DIR": str(ROOT),
            **pg_s3_environ(context["pg_url"], context["s3_endpoint"], context["bucket"]),
        }
        with live_prefect_server(home, env) as api:
            env.update(PREFECT_API_URL=api, PREFECT_HOME=home)
            from bench.child import find_child_process

            server_pid = find_child_process("server\x00start")
            for command in (
                ["revenue", "blocks", "create", "--env", context["config"]],
                ["prefect", "work-pool", "create", "revenue-process", "--type", "process"],
                ["prefect", "--no-prompt", "deploy", "--name", "range"],
            ):
                done = subprocess.run(
                    [str(BIN / command[0]), *command[1:]],
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                if done.returncode:
                    raise RuntimeError(f"{' '.join(command)}: {done.stdout[-1500:]} {done.stderr[-1500:]}")
            log("multi-run: server on Postgres, range deployment, two workers up")
            with process_workers("revenue-process", WORKERS, env, ROOT, home, limit=3):
                yield env, server_pid, admin


def postgres_cpu_s(admin_url: str) -> float | None:
    """CPU of the Prefect server's Postgres cluster (its postmaster and backends)."""
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url)
    try:
        with engine.connect() as connection:
            pid: int = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    finally:
        engine.dispose()
    from bench.child import proc_stat

    fields = proc_stat(pid)
    return None if fields is None else tree_cpu_s(int(fields[1]))


def timed_backfill(
    env: dict[str, str], server_pid: int | None, admin_url: str, parameters: dict[str, Any], pg_url: str
) -> dict[str, Any]:
    """One forced backfill run of the ``range`` deployment, from creation to its final state,
    and what it left published."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from bench.runner import read_published

    with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("backfill/range")
        server_before, db_before = tree_cpu_s(server_pid), postgres_cpu_s(admin_url)
        created_at = dt.datetime.now(dt.timezone.utc)
        started = time.perf_counter()
        run = client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
        while True:
            state = client.read_flow_run(run.id).state
            if state is not None and state.is_final():
                break
            time.sleep(0.5)
        wall = time.perf_counter() - started
        server_after = tree_cpu_s(server_pid)
        server_cpu = None if server_before is None or server_after is None else server_after - server_before
        db_cpu = None if db_before is None else (postgres_cpu_s(admin_url) or 0.0) - db_before
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                start_time=FlowRunFilterStartTime.model_validate({"after_": created_at - dt.timedelta(seconds=1)})
            )
        )
    if not state.is_completed():
        raise RuntimeError(f"backfill {parameters} ended {state.name}: {state.message}")
    chunks = [r for r in runs if r.id != run.id]
    return {
        "parameters": parameters,
        "wall_s": round(wall, 3),
        "api_server_cpu_s": server_cpu and round(server_cpu, 3),
        "api_database_cpu_s": db_cpu and round(db_cpu, 3),
        "flow_runs": len(runs),
        "workers": sorted({(r.labels or {}).get("prefect.worker.name", "?") for r in runs}),
        "chunk_walls_s": sorted(round(r.total_run_time.total_seconds(), 2) for r in chunks),
        "published": read_published(
            pg_url, dt.date.fromisoformat(parameters["start"]), dt.date.fromisoformat(parameters["end"])
        ),
    }


def multi_run_scenarios(context: dict[str, Any], start_iso: str, days: int, per_run: int, log: Log) -> dict[str, Any]:
    end = (dt.date.fromisoformat(start_iso) + dt.timedelta(days=days - 1)).isoformat()
    common = {"start": start_iso, "end": end, "force": True}
    with live_stack(context, log) as (env, server_pid, admin):
        log(f"multi-run: single-run backfill of {days} days")
        single = timed_backfill(env, server_pid, admin, {**common, "max_concurrency": 4}, context["pg_url"])
        log(f"multi-run: the same days in chunks of {per_run} on two workers")
        multi = timed_backfill(
            env, server_pid, admin, {**common, "max_concurrency": 2, "partitions_per_run": per_run}, context["pg_url"]
        )
    return {
        "days": days,
        "partitions_per_run": per_run,
        "start": start_iso,
        "end": end,
        "single": single,
        "multi": multi,
        "agree": single["published"] == multi["published"] and len(single["published"]) == days,
    }


def main(argv: list[str] | None = None) -> int:
    from bench.services import add_standalone_options, print_and_save, quiet_prefect

    quiet_prefect()
    from bench.plan import BACKFILL_START, Plan, parse_size

    parser = argparse.ArgumentParser(prog="python -m bench.multi_run", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=MULTI_RUN_DAYS, help=f"days (default {MULTI_RUN_DAYS})")
    parser.add_argument(
        "--per-run", type=int, default=None, help="days per chunk run in multi-run mode (default days / 6)"
    )
    parser.add_argument("--orders-per-day", type=parse_size, default=None, help="orders a day (default 10k)")
    add_standalone_options(parser)
    args = parser.parse_args(argv)
    if not 1 <= args.days <= 365:
        parser.error("--days must be between 1 and 365")
    per_run = args.per_run or max(1, args.days // 6)
    from bench import report
    from bench.data import load
    from bench.machine import load_average
    from bench.runner import Progress
    from bench.services import services

    log = Progress()
    plan = Plan(
        sizes=(),
        backfill_days=args.days,
        scaling_days=(args.days,),
        backfill_orders_per_day=args.orders_per_day or 10_000,
        seed=args.seed,
        database_url=args.database_url,
    )
    started = load_average()
    with services(plan.database_url, log=log) as svc:
        log(f"loading {args.days} days x {plan.backfill_orders_per_day:,} orders (generate_orders + COPY)")
        data = load(svc.pg_url, plan, log=log)
        results = multi_run_scenarios(svc.child_context(), BACKFILL_START.isoformat(), args.days, per_run, log)
    results["data"] = {k: v for k, v in data.items() if k != "rows_by_day"}
    results["load_average"] = {"start": started, "end": load_average()}
    figures = {"multi_run": report.multi_run_figures(results)}
    load_line = f"load average: {started} at start, {results['load_average']['end']} at end"
    print_and_save([*report.multi_run_lines(results, figures, plan), load_line], results, args.json)
    return 0 if results["agree"] else 2


if __name__ == "__main__":
    sys.exit(main())
