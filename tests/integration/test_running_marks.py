"""Running state that cannot outlive its process: a partition's running mark is kept alive by
a heartbeat, a mark whose heartbeat stopped is ignored within about a minute (the day shows
its published state and that its run stopped without finishing), a publish clears any older
mark of its day, and a warehouse created before the heartbeat column keeps working. On
SQLite (the embedded default) and on Postgres."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import sqlalchemy as sa

from flows.daily_revenue import daily_revenue
from revenue.grid import render_text
from revenue.io.activity import EXPIRY_VARIABLE, running, running_partitions
from revenue.io.environment import environment
from revenue.io.warehouse.database import Warehouse
from revenue.status import current_statuses
from testkit.waiting import wait_for
from tests.integration.helpers import seed_orders

DAY = dt.date(2026, 3, 1)
DAY2 = dt.date(2026, 3, 2)
ORDERS = [
    (10, "alice", 19.99, "2026-03-01 10:00:00"),
    (11, "bob", 5.01, "2026-03-01 11:00:00"),
    (20, "carol", 7.00, "2026-03-02 09:00:00"),
]
UTC = dt.timezone.utc


@pytest.fixture(params=["sqlite_env", "pg_env"])
def config(request) -> str:
    return request.getfixturevalue(request.param)


def mark_rows(warehouse: Warehouse) -> list:
    """Every row of ``partition_runs``, as stored."""
    runs = warehouse.table("partition_runs")
    with warehouse.engine.connect() as connection:
        return list(connection.execute(sa.select(runs)).mappings())


def insert_mark(warehouse: Warehouse, day: dt.date, run_id: str, started_at: dt.datetime) -> None:
    """A mark as a process writes it before computing (the columns every version has); a
    process killed at that point never removes it."""
    warehouse.ensure_tables()
    runs = warehouse.table("partition_runs")
    with warehouse.engine.begin() as connection:
        connection.execute(runs.insert().values(partition_date=day, run_id=run_id, started_at=started_at))


def status_of(config: str, day: dt.date):
    [status] = current_statuses(environment(config), [day])
    return status


def test_the_heartbeat_keeps_a_long_computation_running_past_the_expiry(config, monkeypatch):
    monkeypatch.setenv(EXPIRY_VARIABLE, "2")  # beats every 0.5 s
    warehouse = environment(config).warehouse
    with running(warehouse, DAY, "long-run"):
        [started] = mark_rows(warehouse)

        def beaten_past_the_expiry():
            [row] = mark_rows(warehouse)
            return row["beat_at"] is not None and (row["beat_at"] - row["started_at"]).total_seconds() > 3

        wait_for(beaten_past_the_expiry, 30, "the heartbeat to refresh the mark past its expiry")
        assert running_partitions(warehouse, [DAY, DAY2]) == {DAY: "long-run"}
        assert mark_rows(warehouse)[0]["started_at"] == started["started_at"]
    assert mark_rows(warehouse) == []  # the block's end removes it, heartbeat stopped


def test_a_mark_whose_heartbeat_stopped_is_not_running_but_a_stopped_run(config):
    seed_orders(config, ORDERS)
    warehouse = environment(config).warehouse
    now = dt.datetime.now(UTC)
    insert_mark(warehouse, DAY, "killed-run-0001", now - dt.timedelta(seconds=90))  # never beat since
    insert_mark(warehouse, DAY2, "fresh-run-0002", now - dt.timedelta(seconds=5))

    assert running_partitions(warehouse, [DAY, DAY2]) == {DAY2: "fresh-run-0002"}

    stopped, live = status_of(config, DAY), status_of(config, DAY2)
    assert stopped.state == "missing" and stopped.run_id == "killed-run-0001" and stopped.stopped_at is not None
    assert "run killed-r stopped unfinished at" in stopped.detail
    assert live.state == "running" and live.run_id == "fresh-run-0002"
    text = render_text(current_statuses(environment(config), [DAY, DAY2]))
    assert f"{DAY}: missing: run killed-r stopped unfinished at" in text
    assert "> running 1" in text

    # a new attempt of the day supersedes the stopped run's mark
    with running(warehouse, DAY, "next-run"):
        assert {(r["partition_date"], r["run_id"]) for r in mark_rows(warehouse)} == {
            (DAY, "next-run"),
            (DAY2, "fresh-run-0002"),
        }


def test_a_publish_clears_an_older_mark_of_its_day(config):
    seed_orders(config, ORDERS)
    warehouse = environment(config).warehouse
    now = dt.datetime.now(UTC)
    insert_mark(warehouse, DAY, "killed-run-0001", now)  # still fresh: a minute has not passed
    insert_mark(warehouse, DAY2, "other-day-0002", now)
    assert status_of(config, DAY).state == "running"

    [outcome] = daily_revenue(partition_date=DAY.isoformat(), env=config, force=True)
    assert outcome.outcome == "published"

    status = status_of(config, DAY)
    assert status.state == "materialized" and status.stopped_at is None, status
    assert [(r["partition_date"], r["run_id"]) for r in mark_rows(warehouse)] == [(DAY2, "other-day-0002")]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_partition_runs_table_without_the_beat_column_keeps_working(backend, tmp_path, request):
    if backend == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
        schema = None
    else:
        engine = sa.create_engine(request.getfixturevalue("pg_url"))
        schema = "analytics"
    try:
        old = sa.MetaData(schema=schema)  # partition_runs as the version before heartbeats created it
        sa.Table(
            "partition_runs",
            old,
            sa.Column("partition_date", sa.Date, primary_key=True),
            sa.Column("run_id", sa.Text, primary_key=True),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        )
        with engine.begin() as connection:
            if schema:
                connection.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
            old.create_all(connection)
            connection.execute(
                old.tables[f"{schema}.partition_runs" if schema else "partition_runs"]
                .insert()
                .values(partition_date=DAY, run_id="old-run", started_at=dt.datetime.now(UTC))
            )

        warehouse = Warehouse(engine)
        assert running_partitions(warehouse, [DAY]) == {DAY: "old-run"}  # counted from started_at
        columns = {c["name"] for c in sa.inspect(engine).get_columns("partition_runs", schema=warehouse.schema)}
        assert "beat_at" in columns
        with running(warehouse, DAY2, "new-run"):
            assert running_partitions(warehouse, [DAY, DAY2]) == {DAY: "old-run", DAY2: "new-run"}
    finally:
        engine.dispose()


KILLED_EXPIRY_SECONDS = 6
"""The expiry the killed run and this test use (the default, 60 s, would make the test wait
a minute twice: once to see the heartbeat outlive it, once for the mark to expire)."""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_partition_whose_process_is_killed_mid_compute_leaves_running(pg_env, pg_url, tmp_path, monkeypatch):
    import os
    import signal
    import subprocess
    import sys

    from tests.integration.helpers import REPO, subprocess_env

    monkeypatch.setenv(EXPIRY_VARIABLE, str(KILLED_EXPIRY_SECONDS))
    seed_orders(pg_env, ORDERS)
    [first] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert first.outcome == "published"
    warehouse = environment(pg_env).warehouse

    script = tmp_path / "killed_run.py"
    script.write_text(
        "import sys\n"
        "from flows.daily_revenue import daily_revenue\n"
        "daily_revenue(partition_date=sys.argv[1], env=sys.argv[2], force=True)\n"
        "print('FINISHED', flush=True)\n"
    )
    engine = sa.create_engine(pg_url)
    locker = engine.connect()
    proc = None
    out = tmp_path / "out.txt"
    try:
        # the run computes, then its publish waits for this lock: it stays mid-compute
        locker.execute(sa.text("LOCK TABLE analytics.rejected_orders IN ACCESS EXCLUSIVE MODE"))
        with out.open("w") as output:
            proc = subprocess.Popen(
                [sys.executable, str(script), DAY.isoformat(), pg_env],
                cwd=REPO,
                env={**subprocess_env(), EXPIRY_VARIABLE: str(KILLED_EXPIRY_SECONDS)},
                stdout=output,
                stderr=subprocess.STDOUT,
            )

        def marked_and_beating_past_the_expiry():
            assert proc.poll() is None, out.read_text()[-3000:]
            rows = mark_rows(warehouse)
            return rows and rows[0]["beat_at"] - rows[0]["started_at"] > dt.timedelta(seconds=KILLED_EXPIRY_SECONDS)

        wait_for(marked_and_beating_past_the_expiry, 300, "the run's mark to outlive its expiry by its heartbeat", 0.5)
        [mark] = mark_rows(warehouse)
        status = status_of(pg_env, DAY)
        assert status.state == "running" and status.run_id == mark["run_id"], status

        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        killed_at = time.monotonic()
        stopped = wait_for(
            lambda: (s := status_of(pg_env, DAY)).state != "running" and s, 90, "the killed run's day to leave running"
        )
        left_after = time.monotonic() - killed_at
    finally:
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        locker.rollback()
        locker.close()
        engine.dispose()

    assert "FINISHED" not in out.read_text()
    assert left_after < KILLED_EXPIRY_SECONDS + 5, left_after
    assert stopped.state == "materialized" and stopped.stopped_at is not None  # the version still published
    assert stopped.run_id == mark["run_id"] and f"run {mark['run_id'][:8]} stopped unfinished at" in stopped.detail
    text = render_text(current_statuses(environment(pg_env), [DAY]))
    assert "> running 0" in text and f"{DAY}: materialized: run {mark['run_id'][:8]} stopped unfinished at" in text
