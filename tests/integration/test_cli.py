"""The ``revenue`` command line as a user runs it: a subprocess against the test API."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from revenue.demo_data import generate_orders
from revenue.io.orders_table import create_orders_table, load_orders
from testkit.services import free_port
from tests.integration.helpers import seed_orders

ROOT = Path(__file__).resolve().parents[2]


def revenue(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or "", **(extra_env or {})}
    env.pop("REVENUE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["demo", "--help"],
        ["run", "--help"],
        ["backfill", "--help"],
        ["status", "--help"],
        ["verify", "--help"],
        ["watch", "--help"],
        ["blocks", "--help"],
        ["blocks", "create", "--help"],
        ["webhook-template", "--help"],
    ],
)
def test_every_command_has_help(args):
    result = revenue(*args)
    assert result.returncode == 0, result.stderr
    assert "usage: revenue" in result.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "--date", "2026-02-30"], "2026-02-30"),
        (["run", "--date", "yesterday"], "yesterday"),
        (["backfill", "--start", "2026-03-01", "--end", "2026-03-05", "--max-concurrency", "0"], "at least 1"),
        (["run"], "--date"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_arguments_exit_non_zero_with_one_line(args, needle):
    result = revenue(*args)
    assert result.returncode == 2
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_environment_is_one_line_naming_it_and_the_fix():
    result = revenue("run", "--date", "2026-03-01", "--env", "no-such-env")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no-such-env" in lines[0] and "revenue blocks create --env no-such-env" in lines[0]


def test_blocks_create_names_the_missing_variable():
    clean = {k: "" for k in ("REVENUE_SOURCE_DB_URL", "REVENUE_WAREHOUSE_DB_URL", "REVENUE_LAKE_URL")}
    result = revenue(
        "blocks", "create", "--env", "prod", extra_env={**clean, "REVENUE_SOURCE_DB_URL": "sqlite:///x.db"}
    )
    assert result.returncode == 1
    assert "REVENUE_WAREHOUSE_DB_URL" in result.stderr and "REVENUE_LAKE_URL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_run_status_and_verify_on_an_environment(sqlite_env):
    seed_orders(sqlite_env, [(1, "a", 10.0, "2026-03-01 10:00:00"), (2, "b", 2.5, "2026-03-02 10:00:00")])
    run = revenue("run", "--date", "2026-03-01", "--env", sqlite_env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "2026-03-01: published; revenue 10.00 from 1 orders" in run.stdout

    status = revenue(
        "status",
        "--start",
        "2026-03-01",
        "--end",
        "2026-03-03",
        "--env",
        sqlite_env,
        extra_env={"PREFECT_LOGGING_LEVEL": "INFO"},
    )
    assert status.returncode == 0, status.stderr[-2000:]
    assert "Created a new engine" not in status.stderr  # prefect-sqlalchemy's INFO noise
    assert "01#" in status.stdout and " 02." in status.stdout
    assert "# materialized 1" in status.stdout and ". missing 2" in status.stdout

    verify = revenue("verify", "--start", "2026-03-01", "--end", "2026-03-02", "--env", sqlite_env)
    assert verify.returncode == 1
    assert "2026-03-02: not published" in verify.stdout


def test_backfill_reports_progress_and_a_summary(sqlite_env):
    seed_orders(sqlite_env, [(1, "a", 10.0, "2026-03-01 10:00:00"), (2, "b", 2.5, "2026-03-02 10:00:00")])
    first = revenue("backfill", "--start", "2026-03-01", "--end", "2026-03-02", "--env", sqlite_env)
    assert first.returncode == 0, first.stderr[-2000:]
    progress = [line for line in first.stderr.splitlines() if line.startswith("[")]
    assert [line.split()[1] for line in progress] == ["1/2", "2/2"], first.stderr[-2000:]
    assert "2 published" in first.stdout

    again = revenue("backfill", "--start", "2026-03-01", "--end", "2026-03-02", "--env", sqlite_env)
    assert again.returncode == 0
    assert "2 up to date" in again.stdout


def test_status_and_verify_on_the_embedded_default_answer_without_a_prefect_server(tmp_path):
    """`blocks create --local` writes the environment's manifest; read-only commands use it
    and never ask the Prefect API (here: an address nothing listens on)."""
    home = tmp_path / ".revenue"
    created = revenue(
        "blocks",
        "create",
        "--env",
        "manifested",
        "--local",
        str(home / "manifested"),
        extra_env={"REVENUE_HOME": str(home)},
    )
    assert created.returncode == 0, created.stderr[-2000:]
    assert (home / "environments" / "manifested.json").is_file()
    seed = sa.create_engine(f"sqlite:///{home / 'manifested' / 'source.db'}")
    create_orders_table(seed)
    load_orders(seed, generate_orders(dt.date(2026, 3, 1), dt.date(2026, 3, 2), 20))

    offline = {"REVENUE_HOME": str(home), "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"}
    status = revenue("status", "--start", "2026-03-01", "--end", "2026-03-02", "--env", "manifested", extra_env=offline)
    assert status.returncode == 0, status.stderr[-2000:]
    assert ". missing 2" in status.stdout and "temporary server" not in status.stderr
    verify = revenue("verify", "--start", "2026-03-01", "--end", "2026-03-02", "--env", "manifested", extra_env=offline)
    assert verify.returncode == 1 and "2026-03-01: not published" in verify.stdout, verify.stderr[-2000:]


def test_seed_fills_a_real_source_creates_missing_buckets_and_the_days_publish(pg_url, s3_endpoint):
    """`revenue seed` on Postgres + S3 whose buckets do not exist yet: the orders table is
    created, demo orders loaded, the buckets created; then the days publish; seeding again
    loads nothing."""
    import uuid

    from testkit.services import pg_s3_environ
    from tests.integration.conftest import _save_environment, s3_client

    lake, landing = f"lake-{uuid.uuid4().hex[:8]}", f"landing-{uuid.uuid4().hex[:8]}"
    environ = {**pg_s3_environ(pg_url, s3_endpoint, lake), "REVENUE_LANDING_URL": f"s3://{landing}/incoming"}
    env = _save_environment(f"seed-{uuid.uuid4().hex[:6]}", environ)

    seeded = revenue("seed", "--env", env, "--start", "2026-03-01", "--days", "2", "--orders-per-day", "30")
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    assert f"lake: s3://{lake}/lake (created)" in seeded.stdout
    assert f"landing: s3://{landing}/incoming (created)" in seeded.stdout
    buckets = {b["Name"] for b in s3_client(s3_endpoint).list_buckets()["Buckets"]}
    assert {lake, landing} <= buckets
    engine = sa.create_engine(pg_url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT date(order_date AT TIME ZONE 'UTC') AS day, count(*) FROM orders GROUP BY 1 ORDER BY 1")
        ).all()
    engine.dispose()
    assert [str(day) for day, _ in rows] == ["2026-03-01", "2026-03-02"] and all(n >= 30 for _, n in rows)

    again = revenue("seed", "--env", env, "--start", "2026-03-01", "--days", "2")
    assert again.returncode == 0 and "loaded nothing" in again.stdout and "(created)" not in again.stdout

    ran = revenue("backfill", "--start", "2026-03-01", "--end", "2026-03-02", "--env", env)
    assert ran.returncode == 0 and "2 published" in ran.stdout, ran.stderr[-2000:]


def test_a_non_embedded_environment_without_a_server_fails_at_once_without_starting_one(tmp_path):
    no_server = {"PREFECT_API_URL": "", "REVENUE_HOME": str(tmp_path), "PREFECT_HOME": str(tmp_path / "prefect")}
    for args in (
        ["status", "--env", "prod"],
        ["verify", "--start", "2026-03-01", "--end", "2026-03-02", "--env", "prod"],
        ["run", "--date", "2026-03-01", "--env", "prod"],
    ):
        result = revenue(*args, extra_env=no_server)
        assert result.returncode == 1, result.stderr
        assert "environment 'prod' is not an embedded default here" in result.stderr
        assert "start `revenue dev`, or set PREFECT_API_URL" in result.stderr
        assert "temporary server" not in result.stderr.lower() and len(result.stderr.strip().splitlines()) == 1


def test_watch_logs_its_passes_on_the_terminal(sqlite_env):
    """``revenue watch`` says what it watches and what it announced (INFO lines on stderr,
    through the terminal formatter), although Prefect's logging already holds the root
    logger at WARNING (which once swallowed every one of them, healing's included)."""
    from revenue.io.environment import environment

    seed_orders(sqlite_env, [(1, "a", 10.0, "2026-03-01 10:00:00")])
    landing = environment(sqlite_env).landing
    landing.put("orders-0301.csv", b"order_id,customer_id,amount,order_date\n1,a,2.50,2026-03-01T10:00:00Z\n")
    result = revenue("watch", "--once", "--env", sqlite_env)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    # (Prefect's own exit line "EventsWorker - Still processing items" may come when the API is slow)
    assert not any(" WARNING revenue" in line for line in lines), result.stderr[-2000:]
    assert any(" INFO revenue.watch: watching " in line for line in lines), result.stderr[-2000:]
    assert any(" INFO revenue.watch: announced " in line and "orders-0301.csv" in line for line in lines), lines
