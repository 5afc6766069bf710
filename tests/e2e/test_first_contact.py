"""End to end: a new user's first commands, on a machine where Prefect never ran.

Each command runs as a process from a directory with no ``.revenue`` and with an empty
``PREFECT_HOME``, no ``PREFECT_API_URL`` and no profile: Prefect's temporary server must
first create and migrate its database (28-35 s on a loaded machine) before it answers.
``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=2`` stands for a machine where that
migration takes longer than Prefect's limit (20 s by default): before the fix, the first
``revenue demo`` failed there with "Timed out while attempting to connect to ephemeral
Prefect API server" and only the second try worked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REVENUE = str(Path(sys.executable).parent / "revenue")


def _first_timer(tmp_path: Path, name: str) -> dict[str, str]:
    """The environment of a user on a fresh machine: an empty Prefect home, no server."""
    home = tmp_path / name
    home.mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REVENUE_"))}
    return {
        **environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "2",
    }


def _revenue(args: list[str], cwd: Path, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [REVENUE, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=600, check=False
    )


def test_the_first_demo_and_the_first_run_work_on_an_empty_prefect_home(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()

    demo = _revenue(["demo", "--days", "2", "--orders-per-day", "40"], clone, _first_timer(tmp_path, "home-1"))
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "creates its database" in demo.stderr  # it says what it waits for
    assert "total" in demo.stdout and "2026-03-02" in demo.stdout
    assert "Timed out" not in demo.stderr

    # `revenue run` with no server, on another machine's empty Prefect home: the same wait
    run = _revenue(["run", "--date", "2026-03-02"], clone, _first_timer(tmp_path, "home-2"))
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("2026-03-02: ")
    assert "creates its database" in run.stderr
