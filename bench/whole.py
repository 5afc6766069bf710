"""Whole-process scenarios: a command timed from outside, start to exit, as a user runs it.

- ``dagster``: the Dagster pipeline this project replaces (``bench.dagster_baseline``),
  materializing each partition of the range on an on-disk instance.
- ``ours``: ``revenue backfill --force`` over the same range, through the CLI, against the
  benchmark's Prefect API; the API server's CPU is measured meanwhile.
- ``import_prefect``: ``python -c "import prefect"``, the floor any Prefect command pays.

Each command runs in a fresh interpreter (``sys.executable``), its CPU and peak RSS read from
``getrusage(RUSAGE_CHILDREN)`` around it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.child import CpuMeter

REPO = Path(__file__).resolve().parents[1]


def timed_command(
    args: list[str],
    env: dict[str, str],
    timeout: float = 1800,
    server_pid: int | None = None,
    last_line: bool = False,
) -> dict[str, Any]:
    """Run ``args`` to completion; wall, CPU, peak RSS and what it printed (the tails, and with
    ``last_line`` the whole last line of stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with CpuMeter(server_pid, None) as cpu:
        started = time.perf_counter()
        done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    printed = {"stdout_last_line": (done.stdout.strip().splitlines() or [""])[-1]} if last_line else {}
    return {
        **printed,
        "command": " ".join(Path(a).name if i == 0 else a for i, a in enumerate(args)),
        "returncode": done.returncode,
        "wall_s": round(wall, 6),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3),
        "api_server_cpu_s": cpu.as_dict().get("api_server_cpu_s"),
        "stdout_tail": done.stdout[-2000:],
        "stderr_tail": done.stderr[-3000:],
    }


def _environ(context: dict[str, Any]) -> dict[str, str]:
    return {
        **os.environ,
        "PREFECT_API_URL": context["api_url"],
        "PYTHONPATH": str(REPO),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }


def whole_process(context: dict[str, Any], first: str, last: str, repeats: int) -> dict[str, Any]:
    """The Dagster baseline and our forced backfill over ``[first, last]``, ``repeats``
    times each, alternating; and the ``import prefect`` floor."""
    environ = _environ(context)
    results: dict[str, Any] = {"first": first, "last": last, "dagster": [], "ours": [], "import_prefect": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="dagster-home-") as home:
            run = timed_command(
                [
                    sys.executable,
                    "-m",
                    "bench.dagster_baseline",
                    "--database-url",
                    context["pg_url"],
                    "--start",
                    first,
                    "--end",
                    last,
                    "--home",
                    home,
                ],
                environ,
                last_line=True,
            )
        # The whole last line: a long range's result is longer than the tail kept.
        try:
            run["result"] = json.loads(run.pop("stdout_last_line"))
        except ValueError:
            run["result"] = None
        results["dagster"].append(run)
        results["ours"].append(
            timed_command(
                [
                    sys.executable,
                    "-m",
                    "cli",
                    "backfill",
                    "--start",
                    first,
                    "--end",
                    last,
                    "--env",
                    context["config"],
                    "--force",
                ],
                environ,
                server_pid=context.get("api_server_pid"),
            )
        )
        results["import_prefect"].append(timed_command([sys.executable, "-c", "import prefect"], environ))
    for name in ("dagster", "ours", "import_prefect"):
        runs = results[name]
        walls = sorted(r["wall_s"] for r in runs if r["returncode"] == 0)
        results[f"{name}_wall_s"] = walls[len(walls) // 2] if walls else None
        failed = [r for r in runs if r["returncode"] != 0]
        if failed:
            results[f"{name}_error"] = failed[0]["stderr_tail"][-1500:]
    return results
