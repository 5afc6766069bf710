"""One bad file fails its own days only (issue 23).

A landed file is read once, under a lease, in a child process with a memory cap: whatever
stops its reading (the cap, a bug, the store refusing the key, a killed reader) marks it
``unreadable`` with its reason, never leaves it ``pending``, so the cron run of another day
still publishes while the file's own run fails naming it. ``revenue status`` and the watcher
never read a landed file. Real Postgres + moto S3 (or SQLite + a local landing directory),
real flow runs through Prefect's engine.
"""

from __future__ import annotations

import datetime as dt
import gzip
import logging
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from flows.daily_revenue import daily_revenue
from flows.landing_watcher import watch
from revenue.io.environment import environment
from revenue.io.landing import leases, reads
from revenue.io.landing.listing import watch_once
from revenue.io.landing.versions import PENDING, READ, UNREADABLE
from revenue.io.landing.zone import LandedFile
from revenue.io.partition_input import plan_inputs
from testkit.hostile_files import gzip_of_repeats, tall_parquet, wide_header_csv
from testkit.waiting import wait_for
from tests.integration.conftest import s3_client
from tests.integration.helpers import published, seed_orders
from tests.integration.test_cli import revenue

HEADER = b"order_id,customer_id,amount,order_date\n"
OTHER_DAY = dt.date(2026, 3, 1)
FILE_DAY = dt.date(2026, 3, 20)
STOPPED_TWICE = "reading it stopped twice without finishing"
GOOD = HEADER + b"900,zoe,40.00,2026-03-20T10:00:00Z\n901,yann,2.25,2026-03-20T11:30:00Z\n"


def registry_row(config: str, uri: str) -> dict:
    env = environment(config)
    files = env.registry.files
    with env.warehouse.engine.connect() as connection:
        return dict(
            connection.execute(sa.select(files).where(files.c.uri == uri).order_by(files.c.seq.desc()))
            .mappings()
            .first()
        )


def set_lease(config: str, uri: str, owner: str, expires: dt.datetime, attempts: int) -> None:
    """Write the lease a reader left (a killed process leaves it expired)."""
    env = environment(config)
    files = env.registry.files
    with env.warehouse.engine.begin() as connection:
        connection.execute(
            files.update()
            .where(files.c.uri == uri)
            .values(lease_owner=owner, lease_expires=expires, read_attempts=attempts)
        )


def land_and_register(config: str, s3, bucket: str, name: str, data: bytes) -> str:
    s3.put_object(Bucket=bucket, Key=f"landing/{name}", Body=data)
    watch_once(environment(config).registry)
    return f"s3://{bucket}/landing/{name}"


def inflating_gzip(rows: int) -> bytes:
    """A small gzip whose CSV inflates to ~40 bytes a row (all on FILE_DAY)."""
    return gzip.compress(HEADER + b"1,c,1.00,2026-03-20T10:00:00Z\n" * rows, compresslevel=9)


def test_a_file_over_the_readers_memory_fails_its_own_run_while_another_day_publishes(
    pg_env, s3_endpoint, s3_bucket, monkeypatch
):
    monkeypatch.setenv("REVENUE_LANDING_MAX_READ_MEMORY", "48MiB")
    seed_orders(pg_env, [(1, "alice", 10.00, "2026-03-01 10:00:00")])
    s3 = s3_client(s3_endpoint)
    bomb = inflating_gzip(2_000_000)  # ~0.2 MB that inflates to ~60 MB
    s3.put_object(Bucket=s3_bucket, Key="landing/bomb.csv.gz", Body=bomb)
    uri = f"s3://{s3_bucket}/landing/bomb.csv.gz"

    # The watcher registers and announces it, and redraws the grid: it reads nothing.
    watch(pg_env, interval=0, passes=1)
    assert registry_row(pg_env, uri)["read_status"] == PENDING

    # `revenue status` shows it pending, without reading it.
    status = revenue("status", "--start", "2026-03-01", "--end", "2026-03-02", "--env", pg_env)
    assert status.returncode == 0, status.stderr[-2000:]
    assert "1 landed file(s) pending (registered, not read yet" in status.stdout, status.stdout
    assert uri in status.stdout
    assert registry_row(pg_env, uri)["read_status"] == PENDING

    # The cron run of another day plans (reading the pending file in a capped child) and publishes.
    [other] = daily_revenue(partition_date=OTHER_DAY.isoformat(), env=pg_env)
    assert other.outcome == "published"
    row = registry_row(pg_env, uri)
    assert row["read_status"] == UNREADABLE
    assert "more than 48 MiB of memory" in row["error"], row["error"]
    assert row["lease_owner"] is None

    # The file's own run fails naming it and why; a later run of another day is not bothered.
    state = daily_revenue(landed_key=uri, env=pg_env, return_state=True)
    assert state.is_failed()
    assert uri in state.message and "memory" in state.message, state.message
    [again] = daily_revenue(partition_date=OTHER_DAY.isoformat(), env=pg_env, force=True)
    assert again.outcome == "published"
    assert published(pg_env, "daily_revenue", FILE_DAY).empty


def test_small_files_that_are_huge_when_read_are_refused_at_the_default_limits_while_another_day_publishes(
    pg_env, s3_endpoint, s3_bucket
):
    """Issue 23's three files, at the default limits: a 2.6 MB gzip of 1 GiB of CSV, a
    Parquet file of 20M rows in a few hundred KB, a header of 16k columns. Each is refused
    by its limit (naming the setting), ends unreadable, and the cron run of another day
    publishes. Their memory and time are measured by ``make bench`` (bench/landed_file.py)."""
    seed_orders(pg_env, [(1, "alice", 10.00, "2026-03-01 10:00:00")])
    s3 = s3_client(s3_endpoint)
    row = b"1,c,1.00,2026-03-20T10:00:00Z\n"
    files = {
        "bomb.csv.gz": (gzip_of_repeats(HEADER, row * 100_000, 1024**3 // (len(row) * 100_000)), "MAX_INFLATED_BYTES"),
        "tall.parquet": (tall_parquet(20_000_000), "MAX_ROWS"),
        "wide.csv": (wide_header_csv(16_384), "MAX_LINE_CHARS"),
    }
    for name, (data, _) in files.items():
        assert len(data) < 3_000_000, (name, len(data))  # deflate tops out near 1:1000
        s3.put_object(Bucket=s3_bucket, Key=f"landing/{name}", Body=data)
    watch(pg_env, interval=0, passes=1)

    [other] = daily_revenue(partition_date=OTHER_DAY.isoformat(), env=pg_env)

    assert other.outcome == "published"
    for name, (_, setting) in files.items():
        row_of = registry_row(pg_env, f"s3://{s3_bucket}/landing/{name}")
        assert row_of["read_status"] == UNREADABLE, (name, row_of)
        assert f"REVENUE_LANDING_{setting}" in row_of["error"] and len(row_of["error"]) < 500, row_of["error"]


def test_a_file_the_store_will_not_serve_is_unreadable_and_other_days_publish(sqlite_env, tmp_path):
    """A registration whose key the local store refuses (a symlink out of the landing
    directory, registered by an older watcher: the store refuses to follow it)."""
    seed_orders(sqlite_env, [(1, "alice", 10.00, "2026-03-01 10:00:00")])
    env = environment(sqlite_env)
    outside = tmp_path / "outside.csv"
    outside.write_bytes(GOOD)
    (Path(env.landing.root) / "link.csv").symlink_to(outside)
    version = env.registry.register(
        LandedFile(uri=env.landing.uri("link.csv"), key="link.csv", etag="0" * 32, size=len(GOOD)), by="watcher"
    )

    [other] = daily_revenue(partition_date=OTHER_DAY.isoformat(), env=sqlite_env)

    assert other.outcome == "published"
    row = registry_row(sqlite_env, version.uri)
    assert row["read_status"] == UNREADABLE
    assert "symbolic link" in row["error"], row["error"]


def test_a_live_lease_makes_another_planner_wait_for_the_readers_record(pg_env, s3_endpoint, s3_bucket, caplog):
    s3 = s3_client(s3_endpoint)
    seed_orders(pg_env, [])
    uri = land_and_register(pg_env, s3, s3_bucket, "late.csv", GOOD)
    registry = environment(pg_env).registry
    [version] = registry.pending()
    assert leases.claim(registry, version, "holder:1:live") == "claimed"  # a reader holds it now

    planned: list = []
    caplog.set_level(logging.INFO, logger="revenue.io.landing.reads")
    planner = threading.Thread(target=lambda: planned.extend(plan_inputs(environment(pg_env), [FILE_DAY])))
    planner.start()
    wait_for(lambda: "is being read by another process: waiting" in caplog.text, 30, "the planner to wait", 0.05)
    assert planner.is_alive() and not planned
    assert registry_row(pg_env, uri)["lease_owner"] == "holder:1:live"

    finished = reads.read_leased(registry, version, "holder:1:live")  # the holder finishes
    assert finished.read_status == READ, finished.error
    planner.join(timeout=30)

    assert not planner.is_alive()
    [input] = planned
    assert [f.uri for f in input.files] == [uri]  # it saw the holder's record
    row = registry_row(pg_env, uri)
    assert (row["read_status"], row["read_attempts"], row["lease_owner"]) == (READ, 1, None)  # read once


def test_an_expired_lease_is_taken_over(pg_env, s3_endpoint, s3_bucket):
    s3 = s3_client(s3_endpoint)
    seed_orders(pg_env, [])
    uri = land_and_register(pg_env, s3, s3_bucket, "late.csv", GOOD)
    expired = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    set_lease(pg_env, uri, "killed-host:4242:x", expired, attempts=1)

    [input] = plan_inputs(environment(pg_env), [FILE_DAY])

    assert [f.uri for f in input.files] == [uri]
    row = registry_row(pg_env, uri)
    assert (row["read_status"], row["read_attempts"], row["lease_owner"]) == (READ, 2, None)
    [outcome] = daily_revenue(partition_date=FILE_DAY.isoformat(), env=pg_env)
    assert outcome.outcome == "published" and outcome.order_count == 2


def test_a_file_whose_reading_stopped_twice_is_unreadable(pg_env, s3_endpoint, s3_bucket):
    s3 = s3_client(s3_endpoint)
    seed_orders(pg_env, [(1, "alice", 10.00, "2026-03-01 10:00:00")])
    uri = land_and_register(pg_env, s3, s3_bucket, "oom.csv", GOOD)
    expired = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    set_lease(pg_env, uri, "killed-host:4242:y", expired, attempts=2)  # two readings were killed

    [other] = daily_revenue(partition_date=OTHER_DAY.isoformat(), env=pg_env)

    assert other.outcome == "published"
    row = registry_row(pg_env, uri)
    assert row["read_status"] == UNREADABLE and STOPPED_TWICE in row["error"], row
    state = daily_revenue(landed_key=uri, env=pg_env, return_state=True)
    assert state.is_failed()
    assert uri in state.message and STOPPED_TWICE in state.message, state.message


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("a bug in the reader")])
def test_a_reader_that_raises_marks_the_file_unreadable(sqlite_env, monkeypatch, error):
    """Whatever the reader raises (other than an outage) ends as unreadable, never pending."""

    def dies(*args, **kwargs):
        raise error

    seed_orders(sqlite_env, [(1, "alice", 10.00, "2026-03-01 10:00:00")])
    env = environment(sqlite_env)
    (Path(env.landing.root) / "x.csv").write_bytes(GOOD)
    watch_once(env.registry)
    monkeypatch.setattr(reads, "read_isolated", dies)

    [other] = daily_revenue(partition_date=OTHER_DAY.isoformat(), env=sqlite_env)

    assert other.outcome == "published"
    assert env.registry.pending() == []
    assert env.registry.current_files(FILE_DAY, FILE_DAY) == {}
    row = registry_row(sqlite_env, env.landing.uri("x.csv"))
    assert row["read_status"] == UNREADABLE, row
    assert type(error).__name__ in row["error"] or "memory" in row["error"], row["error"]
