"""Timing a landed file's path to published revenue under ``revenue dev``, part by part.

Shared by the benchmark (``bench/landing_latency.py``, which lands many files and reports
percentiles) and the end-to-end test of ``revenue dev`` (one file, timed and reported).
``DevStack`` reads what each part of the path recorded, on the machine's one clock, and
``land_and_time`` splits landing -> published (the ledger's ``published_at``) into:

- ``noticed``: landed -> the watcher registered it (``landing_registry.registered_at``);
- ``event_to_run``: registered -> the flow run was created (the ``revenue.file.landed``
  event sent, the server's trigger fired, the run created: the run's ``created``);
- ``run_to_code``: created -> the flow's code runs (the run's Running state): the runner
  picks the run up (``picked_up``: its Pending state), starts its process, imports;
- ``computing``: Running -> the publish starts (reading the file, planning, the three gates,
  aggregating);
- ``publishing``: the publish stage (its ``publish N ms`` in the run's log).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun

from testkit.services import ctrl_c
from testkit.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
SEGMENTS = ("noticed", "event_to_run", "run_to_code", "computing", "publishing")
"""The parts of landing -> published, in order."""
LABELS = {
    "noticed": "noticed",
    "event_to_run": "event -> run created",
    "run_to_code": "run created -> code running",
    "picked_up": "  of which picked up",
    "computing": "computing",
    "publishing": "publishing",
    "total": "landed -> published",
}
ORDERS_PER_FILE = 4
_PUBLISH_MS = re.compile(r"\bpublish (\d+) ms\b")


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (``fraction`` 0.5 for p50): a value that was measured."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def split_line(record: dict[str, Any]) -> str:
    """One file's split on one line."""
    return f"{record['total']:.2f} s: " + ", ".join(f"{LABELS[k]} {record[k]:.2f}" for k in SEGMENTS)


def _utc(value: Any) -> dt.datetime:
    """A timestamp read back from SQLite (naive UTC text) or the API (aware)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


class DevStack:
    """``revenue dev`` in a fresh home, and how to read what it did."""

    def __init__(self, root: Path, port: int, environ: dict[str, str], process: subprocess.Popen[bytes]) -> None:
        self.root, self.port, self.environ, self.process = root, port, environ, process
        self.home = root / ".revenue"
        self.api_url = f"http://127.0.0.1:{port}/api"

    @property
    def output(self) -> str:
        return (self.root / "dev.out").read_text(errors="replace")

    @property
    def landing(self) -> Path:
        return self.home / "local" / "landing"

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        warehouse = self.home / "local" / "warehouse.db"
        if not warehouse.exists():
            return []
        connection = sqlite3.connect(warehouse, timeout=10)
        try:
            return connection.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # the tables are not created yet
            return []
        finally:
            connection.close()

    def published_at(self, day: str) -> dt.datetime | None:
        rows = self.query(
            "SELECT published_at FROM partition_ledger WHERE dataset = 'daily_revenue' "
            "AND substr(partition_date, 1, 10) = ? AND published_at IS NOT NULL",
            day,
        )
        return _utc(rows[0][0]) if rows else None

    def registered_at(self, name: str) -> dt.datetime | None:
        rows = self.query("SELECT registered_at FROM landing_registry WHERE key LIKE ? ORDER BY seq", f"%{name}")
        return _utc(rows[0][0]) if rows else None

    def client(self) -> AbstractContextManager[SyncPrefectClient]:
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        auth = (self.home / "dev-auth").read_text().strip()

        @contextmanager
        def opened() -> Iterator[SyncPrefectClient]:
            with temporary_settings({PREFECT_API_URL: self.api_url, PREFECT_API_AUTH_STRING: auth}):
                with get_client(sync_client=True) as client:
                    yield client

        return opened()


@contextmanager
def dev_stack(python: str = sys.executable, interval: float = 1.0, *options: str) -> Iterator[DevStack]:
    """``revenue dev`` started as a terminal starts it (its own session), stopped with Ctrl-C."""
    from testkit.services import free_port

    with tempfile.TemporaryDirectory(prefix="bench-landing-") as tmp:
        root = Path(tmp)
        port = free_port()
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REVENUE_"))},
            "REVENUE_HOME": str(root / ".revenue"),
            "PREFECT_HOME": str(root / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        with open(root / "dev.out", "wb") as out:
            process = subprocess.Popen(
                [python, "-m", "cli", "dev", "--port", str(port), "--interval", f"{interval:g}", *options],
                cwd=ROOT,
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack = DevStack(root, port, environ, process)
        try:
            wait_for(
                lambda: "Ctrl-C stops everything" in stack.output or process.poll() is not None,
                300,
                "revenue dev to start",
                0.5,
            )
            if process.poll() is not None:
                raise RuntimeError(f"revenue dev exited with {process.returncode}: {stack.output[-3000:]}")
            yield stack
        finally:
            ctrl_c(process)


def quiet(stack: DevStack) -> bool:
    """``revenue dev``'s start-up work is done: the week published by its own run, the
    older demo days healed, no run due, waiting or running."""
    yesterday = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)).isoformat()
    if stack.published_at(yesterday) is None:
        return False
    with stack.client() as client:
        healed = any(r.name.startswith("heal-") and r.state and r.state.is_final() for r in client.read_flow_runs())
    return healed and not busy(stack)


def busy(stack: DevStack) -> bool:
    """A run is due (scheduled up to now: the daily cron's next run is not), waiting or running."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterNextScheduledStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    def runs(*types: StateType, due: bool = False) -> list[FlowRun]:
        state = FlowRunFilterState(type=FlowRunFilterStateType(any_=list(types)))
        when = (
            FlowRunFilterNextScheduledStartTime.model_validate({"before_": dt.datetime.now(dt.timezone.utc)})
            if due
            else None
        )
        with stack.client() as client:
            return client.read_flow_runs(flow_run_filter=FlowRunFilter(state=state, next_scheduled_start_time=when))

    return bool(runs(StateType.PENDING, StateType.RUNNING, StateType.CANCELLING) or runs(StateType.SCHEDULED, due=True))


def _landing_run(stack: DevStack, name: str) -> FlowRun | None:
    with stack.client() as client:
        for run in client.read_flow_runs():
            if str((run.parameters or {}).get("landed_key", "")).endswith(name):
                return run
    return None


def _state_times(stack: DevStack, run_id: Any) -> dict[str, dt.datetime]:
    with stack.client() as client:
        states = client.read_flow_run_states(run_id)
    times: dict[str, dt.datetime] = {}
    for state in states:
        times.setdefault(state.type.value, _utc(state.timestamp))
    return times


def _publish_ms(stack: DevStack, run_id: Any) -> int | None:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with stack.client() as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    for line in logs:
        if "published" in line.message:
            found = _PUBLISH_MS.search(line.message)
            if found:
                return int(found.group(1))
    return None


def small_file(number: int, day: dt.date, orders: int = ORDERS_PER_FILE) -> tuple[str, str]:
    """A landed file's name and CSV text: ``orders`` orders of ``day``, ids of its own."""
    rows = "".join(
        f"{7_700_000 + number * 100 + i},late-{i},{10 + i}.25,{day.isoformat()}T{10 + i:02d}:00:00Z\n"
        for i in range(orders)
    )
    return f"landed-{number:03d}.csv", "order_id,customer_id,amount,order_date\n" + rows


def land_and_time(stack: DevStack, name: str, csv_text: str, day: dt.date, timeout: float = 180) -> dict[str, Any]:
    """Land ``csv_text`` as ``name`` (orders of ``day``), wait for the day to be published,
    and read back when each part of the path did its part: the split of the module docstring."""
    staged = stack.root / name
    staged.write_text(csv_text)
    landed_at = dt.datetime.now(dt.timezone.utc)
    os.replace(staged, stack.landing / name)  # lands whole, as an S3 PUT does
    published = wait_for(lambda: stack.published_at(day.isoformat()), timeout, f"{day} to be published")
    run = wait_for(lambda: _landing_run(stack, name), 30, f"the flow run of {name}")

    def final_states() -> dict[str, dt.datetime] | None:
        times = _state_times(stack, run.id)
        return times if "COMPLETED" in times or "FAILED" in times else None

    states = wait_for(final_states, 60, f"{name}'s run to finish", 0.2)
    registered = stack.registered_at(name)
    publish_ms = wait_for(lambda: _publish_ms(stack, run.id), 30, f"{name}'s run log", 0.5)  # logs arrive in batches
    created, pending, running = _utc(run.created), states.get("PENDING"), states.get("RUNNING")
    if registered is None or running is None or publish_ms is None:
        raise RuntimeError(
            f"{name}: incomplete record (registered {registered}, running {running}, publish {publish_ms})"
        )
    seconds = lambda a, b: round((b - a).total_seconds(), 3)  # noqa: E731
    publishing = publish_ms / 1000
    return {
        "file": name,
        "day": day.isoformat(),
        "run": run.name,
        "final_state": "COMPLETED" if "COMPLETED" in states else "FAILED",
        "total": seconds(landed_at, published),
        "noticed": seconds(landed_at, registered),
        "event_to_run": seconds(registered, created),
        "run_to_code": seconds(created, running),
        "picked_up": seconds(created, pending) if pending else None,
        "computing": round(seconds(running, published) - publishing, 3),
        "publishing": publishing,
    }
