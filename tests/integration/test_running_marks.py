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
from revenue.io.warehouse import Warehouse
from revenue.status import current_statuses
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


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


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
    assert "run killed-r stopped without finishing" in stopped.detail
    assert live.state == "running" and live.run_id == "fresh-run-0002"
    text = render_text(current_statuses(environment(config), [DAY, DAY2]))
    assert f"{DAY}: missing: run killed-r stopped without finishing" in text
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

    [outcome] = daily_revenue(partition_date=DAY.isoformat(), config=config, force=True)
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
