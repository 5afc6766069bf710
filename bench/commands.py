"""How long the read-only commands take, whole process, next to ``import prefect`` (issue 13).

Setup (untimed): an embedded-default environment (``revenue blocks create --local`` in a
temporary ``REVENUE_HOME``), ``DAYS`` days of demo orders in its SQLite source, the range
backfilled once, so ``status`` and ``verify`` have published days to check.

Timed, each ``repeats`` times in a fresh interpreter, alternating, median reported:

- ``status`` / ``verify`` over the ``DAYS`` days on the embedded default, with no Prefect
  server configured and with one running (``PREFECT_API_URL`` set, as ``revenue dev`` sets it
  for every command);
- the same for the benchmark's Postgres environment, whose blocks live in the running server
  (reported, not judged: reading blocks needs Prefect and its block classes imported; timed
  once, in the first round, and left out by ``reported=False``);
- argument errors: an impossible date, and an unknown ``--env`` with and without a server;
- ``python -c "import prefect"``, the floor of any command that imports Prefect.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.whole import timed_command

DAYS = 30
CONFIG = "commands"
START = dt.date(2026, 3, 1)


REPORTED = ("status_blocks_environment", "verify_blocks_environment")
"""Reported, not judged: timed once."""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def command_scenarios(context: dict[str, Any], repeats: int, reported: bool = True) -> dict[str, Any]:
    """Every judged command (and the import they are judged against) ``repeats`` times; the
    reported ones (the Postgres environment's, ~15 s each) once, in the first round, and not
    at all without ``reported``."""
    end = START + dt.timedelta(days=DAYS - 1)
    window = ["--start", START.isoformat(), "--end", end.isoformat()]
    with tempfile.TemporaryDirectory(prefix="revenue-home-") as home:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REVENUE_"))}
        offline = {**base, "REVENUE_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        online = {**offline, "PREFECT_API_URL": context["api_url"], "PREFECT_LOGGING_LEVEL": "WARNING"}
        setup = [
            timed_command(_cli("blocks", "create", "--env", CONFIG, "--local", str(Path(home) / CONFIG)), online),
            timed_command(_cli("seed", "--env", CONFIG, "--start", START.isoformat(), "--days", str(DAYS)), online),
            timed_command(_cli("backfill", *window, "--env", CONFIG), online, timeout=900),
        ]
        failed = [s for s in setup if s["returncode"] != 0]
        if failed:
            raise RuntimeError(f"setup failed: {failed[0]['command']}: {failed[0]['stderr_tail'][-1500:]}")
        scenarios = {
            "import_prefect": ([sys.executable, "-c", "import prefect"], offline, 0),
            "status_embedded": (_cli("status", *window, "--env", CONFIG), offline, 0),
            "verify_embedded": (_cli("verify", *window, "--env", CONFIG), offline, 0),
            "status_embedded_server_running": (_cli("status", *window, "--env", CONFIG), online, 0),
            "verify_embedded_server_running": (_cli("verify", *window, "--env", CONFIG), online, 0),
            "status_blocks_environment": (_cli("status", *window, "--env", context["config"]), online, 0),
            "verify_blocks_environment": (_cli("verify", *window, "--env", context["config"]), online, None),
            "error_impossible_date": (_cli("status", "--start", "2026-02-30", "--env", CONFIG), offline, 2),
            "error_unknown_config": (_cli("status", *window, "--env", "no-such-env"), offline, 1),
            "error_unknown_config_server_running": (_cli("status", *window, "--env", "no-such-env"), online, 1),
        }
        if not reported:
            for name in REPORTED:
                del scenarios[name]
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in scenarios}
        for turn in range(repeats):
            for name, (args, environ, expected) in scenarios.items():
                if turn and name in REPORTED:
                    continue
                run = timed_command(args, environ, timeout=300)
                run["expected_returncode"] = expected
                runs[name].append(run)
    results: dict[str, Any] = {"days": DAYS, "setup": setup, "runs": runs, "wall_s": {}, "errors": {}}
    for name, (_, _, expected) in scenarios.items():
        ok = [r for r in runs[name] if expected is None or r["returncode"] == expected]
        walls = sorted(r["wall_s"] for r in ok)
        results["wall_s"][name] = walls[(len(walls) - 1) // 2] if walls else None
        if len(ok) < len(runs[name]):
            bad = next(r for r in runs[name] if r not in ok)
            results["errors"][name] = f"exit {bad['returncode']}: {bad['stderr_tail'][-800:]}"
    return results
