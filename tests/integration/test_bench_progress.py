"""``python -m bench`` reports as it goes: killed half way (SIGKILL, no cleanup), it leaves a
valid results file with every scenario it finished, marked as not finished.

The benchmark runs as a user runs it, in its own process (tests never import ``bench``), on a
cheap plan: the fingerprint scenario (one query on two small days), then a backfill it is
killed in.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _drop_database(name: str) -> None:
    """What the benchmark would have dropped had it stopped cleanly (on TEST_DATABASE_URL)."""
    admin_url = os.environ.get("TEST_DATABASE_URL")
    if not (admin_url and name):
        return
    from sqlalchemy.engine import make_url

    admin = sa.create_engine(make_url(admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
            )
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()


def test_a_benchmark_killed_half_way_leaves_every_finished_scenario(tmp_path: Path) -> None:
    results_dir = tmp_path / "results"
    command = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--sizes",
        "1k",
        "--days",
        "3",
        "--only",
        "fingerprint,backfill",
        "--results-dir",
        str(results_dir),
    ]
    if os.environ.get("TEST_DATABASE_URL"):
        command += ["--database-url", os.environ["TEST_DATABASE_URL"]]
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own group: the servers and scenario processes it started go with it
    )
    database = ""
    try:
        # The path is printed first, and the file is already there, with no scenario done.
        first_line = process.stdout.readline() if process.stdout else ""
        files = list(results_dir.glob("*.json"))
        assert len(files) == 1, (first_line, files)
        path = files[0]
        assert path.name in first_line
        assert _read(path)["scenarios_done"] == []

        deadline = time.monotonic() + 240
        results = None
        while time.monotonic() < deadline and process.poll() is None:
            results = _read(path)
            if results and "fingerprint" in results["scenarios_done"]:
                break
            time.sleep(0.2)
        assert results and "fingerprint" in results["scenarios_done"], "no scenario finished in time"
        database = results["services"]["database"]
        assert process.poll() is None, "the benchmark finished before it could be killed half way"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        try:
            os.killpg(process.pid, signal.SIGTERM)  # what the killed benchmark had started
        except ProcessLookupError:
            pass
        if process.stdout:
            process.stdout.close()

    killed = json.loads(path.read_text())
    _drop_database(database or (killed.get("services") or {}).get("database", ""))
    assert killed["finished"] is False
    assert "fingerprint" in killed["scenarios_done"]
    assert "backfill" not in killed["scenarios_done"]
    fingerprint = killed["fingerprint"]
    assert fingerprint, killed["errors"]
    postgres = fingerprint["postgres"]["1000"]
    assert postgres["source_rows"] > 1000
    assert postgres["median_ms"]["with_row_hashes"] > 0
    assert fingerprint["sqlite"]
    stdout_seen = first_line  # the path line; the fingerprint's report lines followed it on stdout
    assert stdout_seen
    assert killed["agreement"]["ok"]
    assert not list(results_dir.glob("*.tmp")), "a temporary file was left beside the results"
