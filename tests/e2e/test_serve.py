"""End to end: ``revenue serve`` on a live ``prefect server``, as production runs it on one
machine instead of ``prefect deploy`` and a worker: the deployments of prefect.yaml
registered as served, a landed file announced by ``revenue watch`` starts the on-landing run
through the server's trigger, the run (forked warm) publishes the day, and Ctrl-C stops
everything the command started. The landed file's time to published is reported, not
asserted on."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.devserver import alive
from testkit.services import ctrl_c, live_prefect_server
from testkit.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
REVENUE = str(Path(sys.executable).parent / "revenue")
DAY = "2026-02-11"


def _published(warehouse: Path, day: str) -> tuple[float, int] | None:
    if not warehouse.exists():
        return None
    connection = sqlite3.connect(warehouse)
    try:
        row = connection.execute(
            "SELECT revenue, order_count FROM daily_revenue WHERE substr(order_date, 1, 10) = ?", (day,)
        ).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        connection.close()
    return (float(row[0]), int(row[1])) if row else None


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def test_revenue_serve_runs_a_landed_file_through_the_trigger_warm(tmp_path: Path, record_property):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REVENUE_"))}
    (tmp_path / "prefect").mkdir()
    with live_prefect_server(tmp_path / "prefect", base) as api:
        environ = {**base, "PREFECT_API_URL": api, "PREFECT_HOME": str(tmp_path / "prefect"),
                   "REVENUE_HOME": str(tmp_path / ".revenue"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}  # fmt: skip
        local = tmp_path / "served"

        def revenue(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([REVENUE, *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)

        created = revenue("blocks", "create", "--env", "served", "--local", str(local))
        assert created.returncode == 0, created.stderr[-2000:]
        seeded = revenue("seed", "--env", "served", "--start", "2026-02-01", "--days", "1", "--orders-per-day", "5")
        assert seeded.returncode == 0, seeded.stderr[-2000:]  # the source table, with none of the landed day's orders
        out = open(tmp_path / "serve.out", "wb")
        serving = subprocess.Popen(
            [REVENUE, "serve", "--env", "served", "--interval", "1"],
            cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log = lambda: (tmp_path / "serve.out").read_text()  # noqa: E731
        started: list[int] = []
        try:
            wait_for(lambda: "Ctrl-C stops it" in log() or serving.poll() is not None, 120, "revenue serve to start")
            assert serving.poll() is None, log()
            assert "each run forked from a warm process" in log()
            from prefect.client.orchestration import get_client
            from prefect.settings import PREFECT_API_URL, temporary_settings

            def served(name: str):
                with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
                    try:
                        return client.read_deployment_by_name(name)
                    except Exception:  # noqa: BLE001 - not registered yet
                        return None

            for name in ("daily-revenue/daily", "daily-revenue/on-landing", "backfill/range"):
                deployment = wait_for(lambda name=name: served(name), 60, f"{name} to be served", 0.5)
                assert deployment.work_pool_name is None  # served from the command's process

            landing = local / "landing"
            landing.mkdir(parents=True, exist_ok=True)
            (tmp_path / "pushed.csv").write_text(
                f"order_id,customer_id,amount,order_date\n51,a,12.50,{DAY}T10:00:00Z\n52,b,7.25,{DAY}T11:00:00Z\n"
            )
            landed = time.monotonic()
            os.replace(tmp_path / "pushed.csv", landing / "pushed.csv")
            watched = revenue("watch", "--env", "served", "--once")
            assert watched.returncode == 0 and "announced 1 landed file" in watched.stdout, watched.stderr[-2000:]
            numbers = wait_for(
                lambda: _published(local / "warehouse.db", DAY), 180, "the landed day to be published", 0.2,
                on_timeout=lambda: log()[-3000:],
            )  # fmt: skip
            record_property(
                "landing path",
                f"revenue serve + revenue watch --once on a live server: landed -> published "
                f"{time.monotonic() - landed:.2f} s (the watcher's start, ~2 s, included)",
            )
            assert numbers == (19.75, 2)
            started.extend(_children_of(serving.pid))  # the fork server among them
            assert started
        finally:
            ctrl_c(serving, 90)
            out.close()
        code = serving.returncode
        assert code == 0, log()[-3000:]
        # the fork server and every process the command started went with it
        wait_for(lambda: not any(alive(pid) for pid in started), 30, "the command's processes to end", 0.2)
