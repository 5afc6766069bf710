"""Fault injection against real backends: Postgres and S3 (moto's server, over HTTP).

Each test breaks one thing the way production breaks it (a database or object store
that refuses connections, a process killed in the middle of a publish transaction, two
runs of one partition racing, a watcher dying between emitting and saving its cursor)
and checks the promises of the design: the run fails with a message naming the service
and the partition (never a credential), and the previously published version of the
partition stays intact, row for row, until a good run replaces it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from flows.daily_revenue import daily_revenue
from flows.policies import IO_RETRIES
from revenue.io.environment import Environment, _cache, environment
from revenue.io.warehouse.ledger import read_ledger
from revenue.verify import verify_range
from testkit.services import DB_PASSWORD, S3_ACCESS_KEY, S3_SECRET_KEY, CuttingProxy, free_port
from testkit.waiting import wait_for
from tests.integration.conftest import s3_client
from tests.integration.helpers import published, seed_orders, subprocess_env

REPO = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 3, 1)
DAY2 = dt.date(2026, 3, 2)
DAY3 = dt.date(2026, 3, 3)
TABLES = ("daily_revenue", "customer_daily_spend", "rejected_orders")

V1 = [
    (10, "alice", 19.99, "2026-03-01 00:00:00"),
    (11, "bob", 5.01, "2026-03-01 06:30:00"),
    (11, "bob", 7.01, "2026-03-01 06:30:00", "2026-03-01 07:00:00"),
    (12, "alice", -3.00, "2026-03-01 23:59:59.999"),
    (13, "carol", 100.00, "2026-03-01 12:00:00"),
    (14, None, 1.00, "2026-03-01 12:00:00"),  # quarantined: null customer
    (15, "dave", 50.00, "2026-02-28 23:59:59"),  # another day
]
# V1 plus a late order, a newer version of order 13, another quarantined row and a
# second day: every published table of DAY differs between V1 and V2.
V2 = V1 + [
    (16, "erin", 42.42, "2026-03-01 18:00:00"),
    (13, "carol", 90.00, "2026-03-01 12:00:00", "2026-03-01 13:00:00"),
    (17, " ", 2.00, "2026-03-01 19:00:00"),  # quarantined: blank customer
    (30, "frank", 11.11, "2026-03-02 10:00:00"),
    (31, "grace", 22.22, "2026-03-02 11:00:00"),
]

# generous: the machine has 2 cores shared with other work
SUBPROCESS_START_TIMEOUT = 300
TASK_RUN_TIMEOUT = 120


def assert_service_failure(state, service: str) -> None:
    """The run failed, and its message names the service and the partition, no secret."""
    assert state.is_failed(), state
    message = state.message or ""
    assert service in message, message
    assert DAY.isoformat() in message, f"the message does not name the partition: {message}"
    assert_no_secret(message)


# ---------------------------------------------------------------- helpers


def _plain(frame: pd.DataFrame) -> list[dict]:
    return frame.astype("object").where(frame.notna(), None).to_dict(orient="records")


def snapshot(config: str, day: dt.date) -> dict[str, list[dict]]:
    """Full rows (run_id and published_at included) of every published table for the day."""
    warehouse = environment(config).warehouse
    return {table: _plain(warehouse.read_table(table, day)) for table in TABLES}


def ledger(config: str, day: dt.date) -> list:
    return read_ledger(environment(config).warehouse, day, day)


def lake_files(config: str, day: dt.date) -> dict[str, tuple[str, bytes]]:
    """Dataset -> the lake file the ledger names for ``day`` (its URI and bytes): the
    published version, as a lake reader finds it."""
    lake = environment(config).lake
    return {r.dataset: (r.lake_uri, lake.get(lake.key_of(r.lake_uri) or "")) for r in ledger(config, day) if r.lake_uri}


def assert_one_lake_file_per_dataset(config: str, day: dt.date) -> None:
    """The day's folder of each dataset in the lake holds one Parquet file: the one the
    ledger names."""
    lake = environment(config).lake
    named = {r.dataset: r.lake_uri for r in ledger(config, day) if r.lake_uri}
    assert set(named) == {"cleaned_orders", "daily_revenue"}, named
    for dataset, uri in named.items():
        parts = [o.key for o in lake.list(f"{dataset}/order_date={day.isoformat()}/") if o.key.endswith(".parquet")]
        assert [lake.uri(k) for k in parts] == [uri], f"{dataset}: {parts}"


def closed_port_url(url: str) -> str:
    """The database URL (with its password) pointing at a loopback port nothing listens on."""
    parsed = sa.engine.make_url(url).set(password=DB_PASSWORD)
    return parsed.set(host="127.0.0.1", port=free_port(), query={}).render_as_string(hide_password=False)


@contextmanager
def broken_environment(base: str, **replace) -> Iterator[str]:
    """A copy of ``base``'s environment block with some fields replaced, registered in this
    process only (tasks run in-process and resolve it from the environment cache)."""
    name = f"broken-{uuid.uuid4().hex[:8]}"
    pipeline = environment(base).block.model_copy()
    for field_name, value in replace.items():
        setattr(pipeline, field_name, value)
    _cache[name] = Environment(name, pipeline)
    try:
        yield name
    finally:
        env = _cache.pop(name, None)
        for key in ("source", "warehouse"):
            if env is not None and key in env.__dict__:
                env.__dict__[key].engine.dispose()


def task_runs(flow_run_id, wanted, timeout: float = TASK_RUN_TIMEOUT) -> list:
    """Task runs of a flow run, polled until ``wanted(runs)`` holds (task run states reach
    the API through events, so they can lag the flow's return)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            if wanted(runs) or time.monotonic() > deadline:
                return runs


def retried_failure(name: str):
    """A predicate: a task run named ``name-...`` failed after every IO retry."""
    attempts = IO_RETRIES["retries"] + 1

    def check(runs) -> bool:
        return any(
            r.name.startswith(f"{name}-") and r.state is not None and r.state.is_failed() and r.run_count == attempts
            for r in runs
        )

    return check


def describe_runs(runs) -> str:
    return "; ".join(f"{r.name}: {r.state.type if r.state else None} x{r.run_count}" for r in runs)


def assert_no_secret(text: str) -> None:
    for secret in (DB_PASSWORD, S3_SECRET_KEY):
        assert secret not in text, "a credential leaked into the message"


# ---------------------------------------------------------------- 1. source refuses connections


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_source_refusing_connections_fails_after_retries_and_keeps_the_published_day(pg_env, pg_url):
    seed_orders(pg_env, V1)
    [first] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert first.outcome == "published"
    before, ledger_before = snapshot(pg_env, DAY), ledger(pg_env, DAY)
    assert len(before["daily_revenue"]) == 1 and before["rejected_orders"], (
        "nothing to protect: the test proves nothing"
    )
    assert verify_range(pg_env, DAY, DAY) == []

    from blocks.create import database_connector

    closed = closed_port_url(pg_url)
    assert DB_PASSWORD in closed
    with broken_environment(pg_env, source=database_connector(closed, "x")) as broken:
        state = daily_revenue(partition_date=DAY.isoformat(), env=broken, return_state=True)

    assert_service_failure(state, "source database")
    runs = task_runs(state.state_details.flow_run_id, retried_failure("plan"))
    assert retried_failure("plan")(runs), f"no IO retries: {describe_runs(runs)}"

    assert snapshot(pg_env, DAY) == before
    assert ledger(pg_env, DAY) == ledger_before
    assert verify_range(pg_env, DAY, DAY) == []


# ---------------------------------------------------------------- 2. warehouse refuses connections


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_warehouse_refusing_connections_at_publish_changes_nothing_published(pg_env, pg_url):
    seed_orders(pg_env, V1)
    [first] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert first.outcome == "published"
    before, ledger_before = snapshot(pg_env, DAY), ledger(pg_env, DAY)
    assert ledger_before and all(r.published_fingerprint for r in ledger_before)
    seed_orders(pg_env, V2)  # the new version differs from the published one

    from blocks.create import database_connector

    # The warehouse answers while the run plans, and goes down the moment publish sends its
    # first DELETE, inside the publish transaction: every later connection is refused.
    with CuttingProxy(pg_url, b"DELETE FROM") as proxy:
        through_proxy = (
            sa.engine.make_url(pg_url)
            .set(host="127.0.0.1", port=proxy.port, password=DB_PASSWORD, query={"sslmode": "disable"})
            .render_as_string(hide_password=False)
        )
        with broken_environment(pg_env, warehouse=database_connector(through_proxy, "x")) as broken:
            state = daily_revenue(partition_date=DAY.isoformat(), env=broken, return_state=True)
        assert proxy.cut.is_set(), "the publish never reached the warehouse"

    assert_service_failure(state, "warehouse database")
    runs = task_runs(state.state_details.flow_run_id, retried_failure("partition"))
    assert retried_failure("partition")(runs), f"the partition did not fail after its retries: {describe_runs(runs)}"

    assert snapshot(pg_env, DAY) == before
    assert ledger(pg_env, DAY) == ledger_before

    # and a good run afterwards publishes the new version
    [again] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert again.outcome in ("published", "cache hit")
    assert snapshot(pg_env, DAY)["daily_revenue"] != before["daily_revenue"]
    assert verify_range(pg_env, DAY, DAY) == []


# ---------------------------------------------------------------- 3. SIGKILL mid-publish

KILLED_RUN = textwrap.dedent("""
    import sys
    from flows.daily_revenue import daily_revenue
    state = daily_revenue(partition_date=sys.argv[1], env=sys.argv[2], force=True, return_state=True)
    print("FINISHED", state.type, state.message, flush=True)
""")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkill_in_the_middle_of_publishing_leaves_the_previous_version(pg_env, pg_url, tmp_path):
    seed_orders(pg_env, V1)
    [first] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert first.outcome == "published"
    before, ledger_before = snapshot(pg_env, DAY), ledger(pg_env, DAY)
    assert len(before["daily_revenue"]) == 1 and before["customer_daily_spend"] and before["rejected_orders"]
    lake_before = lake_files(pg_env, DAY)
    assert set(lake_before) == {"cleaned_orders", "daily_revenue"}
    seed_orders(pg_env, V2)

    engine = sa.create_engine(pg_url)
    monitor = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    script = tmp_path / "killed_run.py"
    script.write_text(KILLED_RUN)
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    locker = engine.connect()
    proc = None
    try:
        locker_pid = locker.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        # the run plans (reading daily_revenue and customer_daily_spend), then publishes:
        # it deletes the day's rows of both and waits for rejected_orders
        locker.execute(sa.text("LOCK TABLE analytics.rejected_orders IN ACCESS EXCLUSIVE MODE"))
        with out.open("w") as stdout, err.open("w") as stderr:
            proc = subprocess.Popen(
                [sys.executable, str(script), DAY.isoformat(), pg_env],
                cwd=REPO,
                env=subprocess_env(),
                stdout=stdout,
                stderr=stderr,
            )

        def blocked_backend():
            if proc.poll() is not None:
                raise AssertionError(
                    f"the run ended before blocking (rc={proc.returncode}): "
                    f"{out.read_text()[-2000:]} {err.read_text()[-3000:]}"
                )
            with monitor.connect() as connection:
                return connection.execute(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid NOT IN (pg_backend_pid(), :locker) AND wait_event_type = 'Lock' "
                        "AND query ILIKE '%rejected_orders%'"
                    ),
                    {"locker": locker_pid},
                ).scalar()

        backend = wait_for(
            blocked_backend,
            SUBPROCESS_START_TIMEOUT,
            "the publish to block on rejected_orders",
            interval=0.5,
            on_timeout=lambda: err.read_text()[-3000:],
        )

        # the publish transaction is really half done: it holds the partition's advisory
        # lock and has already deleted the day's daily_revenue rows
        with monitor.connect() as connection:
            held = (
                connection.execute(
                    sa.text(
                        "SELECT locktype, mode, relation::regclass::text AS relation "
                        "FROM pg_locks WHERE pid = :pid AND granted"
                    ),
                    {"pid": backend},
                )
                .mappings()
                .all()
            )
        assert any(h["locktype"] == "advisory" for h in held), held
        assert any(h["relation"] == "analytics.daily_revenue" and h["mode"] == "RowExclusiveLock" for h in held), held
        assert any(
            h["relation"] == "analytics.customer_daily_spend" and h["mode"] == "RowExclusiveLock" for h in held
        ), held

        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        locker.rollback()
        locker.close()

    def backend_gone():
        with monitor.connect() as connection:
            return not connection.execute(
                sa.text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": backend}
            ).first()

    wait_for(backend_gone, 120, f"backend {backend} of the killed run to end")
    engine.dispose()
    monitor.dispose()
    assert "FINISHED" not in out.read_text()

    assert snapshot(pg_env, DAY) == before
    assert ledger(pg_env, DAY) == ledger_before
    assert lake_files(pg_env, DAY) == lake_before  # the files the ledger names, byte for byte

    # a rerun (cached stages from the killed run may be reused) publishes the new version
    [rerun] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert rerun.outcome in ("published", "cache hit")
    after = snapshot(pg_env, DAY)
    assert after["daily_revenue"] != before["daily_revenue"]
    assert verify_range(pg_env, DAY, DAY) == []
    fingerprint = environment(pg_env).source.fingerprint(DAY)
    assert {r.published_fingerprint for r in ledger(pg_env, DAY)} == {fingerprint}
    assert_one_lake_file_per_dataset(pg_env, DAY)  # the killed run's lake files are gone


# ---------------------------------------------------------------- 4. S3 refuses connections


def save_dead_lake(s3_bucket: str) -> str:
    """An S3Bucket block like the lake's but on an endpoint nothing listens on; botocore's
    own retries are off so the test waits only for the pipeline's IO retries."""
    from prefect_aws import AwsCredentials
    from prefect_aws.client_parameters import AwsClientParameters
    from prefect_aws.s3 import S3Bucket

    credentials = AwsCredentials(
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        region_name="us-east-1",
        aws_client_parameters=AwsClientParameters(
            endpoint_url=f"http://127.0.0.1:{free_port()}",
            config={"retries": {"total_max_attempts": 1}, "connect_timeout": 5},
        ),
    )
    name = f"dead-lake-{uuid.uuid4().hex[:8]}"
    S3Bucket(bucket_name=s3_bucket, bucket_folder="lake", credentials=credentials).save(name, overwrite=True)
    return f"s3-bucket/{name}"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_lake_refusing_connections_fails_and_no_ledger_row_claims_lake_files(pg_env, s3_bucket):
    seed_orders(pg_env, V1)
    [first] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert first.outcome == "published"
    before, ledger_before = snapshot(pg_env, DAY), ledger(pg_env, DAY)
    assert any(r.lake_uri for r in ledger_before)
    seed_orders(pg_env, V2)  # new versions of DAY, and DAY2 which was never published
    assert ledger(pg_env, DAY2) == []

    with broken_environment(pg_env, lake=save_dead_lake(s3_bucket)) as broken:
        states = {
            day: daily_revenue(partition_date=day.isoformat(), env=broken, return_state=True) for day in (DAY, DAY2)
        }

    for day, state in states.items():
        assert state.is_failed(), state
        message = state.message or ""
        assert f"lake s3://{s3_bucket}/lake unavailable" in message, message
        assert day.isoformat() in message, f"the message does not name the partition: {message}"
        assert_no_secret(message)
        runs = task_runs(state.state_details.flow_run_id, retried_failure("partition"))
        assert retried_failure("partition")(runs), (
            f"the partition did not fail after its retries: {describe_runs(runs)}"
        )

    def published_claims(rows):
        return [(r.dataset, r.lake_uri, r.published_fingerprint, r.published_at, r.row_count) for r in rows]

    assert published_claims(ledger(pg_env, DAY)) == published_claims(ledger_before)
    assert snapshot(pg_env, DAY) == before
    assert [r for r in ledger(pg_env, DAY2) if r.lake_uri or r.published_fingerprint] == []
    assert all(rows == [] for rows in snapshot(pg_env, DAY2).values())


# ---------------------------------------------------------------- 5. concurrent runs of one partition

RACING_WORKER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path

    control, name, rounds, day, config = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    from flows.daily_revenue import daily_revenue
    from revenue.quality import warm_up

    warm_up()
    (control / f"ready-{name}").write_text("")
    for r in range(rounds):
        go = control / f"go-{r}"
        deadline = time.monotonic() + 900
        while not go.exists():
            if time.monotonic() > deadline:
                sys.exit(3)
            time.sleep(0.02)
        state = daily_revenue(partition_date=day, env=config, force=True, return_state=True)
        result = {"ok": state.is_completed(), "message": state.message}
        (control / f"done-{r}-{name}.tmp").write_text(json.dumps(result))
        (control / f"done-{r}-{name}.tmp").rename(control / f"done-{r}-{name}")
""")

ROUNDS = 6
WORKERS = ("w1", "w2")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_concurrent_runs_of_one_partition_never_duplicate_and_the_ledger_matches(pg_env, pg_url, tmp_path):
    """Every round, three runs of the day (two worker processes and a thread here) are
    made to meet inside publish: the test holds an exclusive lock on rejected_orders (which
    only publish touches) until all three publish transactions wait, then lets them go."""
    seed_orders(pg_env, V1)
    warehouse = environment(pg_env).warehouse
    warehouse.ensure_tables()
    control = tmp_path / "control"
    control.mkdir()
    script = tmp_path / "racing_worker.py"
    script.write_text(RACING_WORKER)
    procs = {}
    for name in WORKERS:
        log = (tmp_path / f"{name}.log").open("w")
        procs[name] = subprocess.Popen(
            [sys.executable, str(script), str(control), name, str(ROUNDS), DAY.isoformat(), pg_env],
            cwd=REPO,
            env=subprocess_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def logs() -> str:
        return " | ".join(f"{n}: {(tmp_path / f'{n}.log').read_text()[-2000:]}" for n in WORKERS)

    def alive_and(predicate):
        def check():
            for name, proc in procs.items():
                if proc.poll() is not None and not predicate():
                    raise AssertionError(f"worker {name} exited with {proc.returncode}: {logs()}")
            return predicate()

        return check

    engine = sa.create_engine(pg_url)
    monitor = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        wait_for(
            alive_and(lambda: all((control / f"ready-{n}").exists() for n in WORKERS)),
            SUBPROCESS_START_TIMEOUT,
            "the racing workers to start",
            on_timeout=logs,
        )
        for r in range(ROUNDS):
            if r:  # the source changes between rounds: a late order, and a new version of order 10
                seed_orders(
                    pg_env,
                    [
                        (100 + r, f"c{r % 3}", 10.0 + r, "2026-03-01 10:00:00"),
                        (10, "alice", 19.99 + r, "2026-03-01 00:00:00", f"2026-03-01 0{r}:30:00"),
                    ],
                    replace=False,
                )
            local: dict = {}
            thread = threading.Thread(
                target=lambda local=local: local.update(
                    state=daily_revenue(partition_date=DAY.isoformat(), env=pg_env, force=True, return_state=True)
                )
            )
            with engine.connect() as locker:
                locker_pid = locker.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                locker.execute(sa.text("LOCK TABLE analytics.rejected_orders IN ACCESS EXCLUSIVE MODE"))
                (control / f"go-{r}").write_text("")
                thread.start()

                def waiting(thread=thread, r=r, local=local, locker_pid=locker_pid):
                    if not thread.is_alive():
                        raise AssertionError(f"round {r}: the in-process run ended unblocked: {local}")
                    with monitor.connect() as connection:
                        rows = (
                            connection.execute(
                                sa.text(
                                    "SELECT wait_event FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND pid NOT IN (pg_backend_pid(), :locker) AND wait_event_type = 'Lock'"
                                ),
                                {"locker": locker_pid},
                            )
                            .scalars()
                            .all()
                        )
                    return sorted(rows) if len(rows) >= 3 else None

                events = wait_for(
                    alive_and(waiting),
                    SUBPROCESS_START_TIMEOUT,
                    f"round {r}: three publish transactions waiting",
                    interval=0.2,
                    on_timeout=logs,
                )
                # one run holds the partition's advisory lock and waits for the table; the
                # others wait for the advisory lock
                assert events == ["advisory", "advisory", "relation"], f"round {r}: {events}"
                locker.rollback()
            thread.join(timeout=600)
            assert not thread.is_alive(), "the in-process run hung"
            wait_for(
                alive_and(lambda r=r: all((control / f"done-{r}-{n}").exists() for n in WORKERS)),
                600,
                f"round {r} of the workers",
                on_timeout=logs,
            )
            results = [json.loads((control / f"done-{r}-{n}").read_text()) for n in WORKERS]
            state = local["state"]
            results.append({"ok": state.is_completed(), "message": state.message})
            assert all(res["ok"] for res in results), f"round {r}: {results}"

            with monitor.connect() as connection:
                duplicates = connection.execute(
                    sa.text("""
                    SELECT 'daily_revenue', count(*) - count(DISTINCT order_date) FROM analytics.daily_revenue
                    UNION ALL SELECT 'customer_daily_spend', count(*) - count(DISTINCT customer_id)
                        FROM analytics.customer_daily_spend WHERE order_date = :day
                    UNION ALL SELECT 'rejected_orders', count(*) - count(DISTINCT (attempt, origin, line))
                        FROM analytics.rejected_orders WHERE partition_date = :day
                """),
                    {"day": DAY},
                ).all()
            assert all(extra == 0 for _, extra in duplicates), f"round {r}: duplicates {duplicates}"
            revenue = warehouse.read_table("daily_revenue", DAY)
            spend = warehouse.read_table("customer_daily_spend", DAY)
            rejected = published(pg_env, "rejected_orders", DAY)
            assert len(revenue) == 1
            rows = {row.dataset: row for row in ledger(pg_env, DAY)}
            assert rows["daily_revenue"].row_count == len(revenue)
            assert rows["customer_daily_spend"].row_count == len(spend)
            assert rows["cleaned_orders"].rejected_count == len(rejected)
            assert int(revenue["order_count"].item()) == rows["cleaned_orders"].row_count
            fingerprint = environment(pg_env).source.fingerprint(DAY)
            assert {row.published_fingerprint for row in rows.values()} == {fingerprint}, f"round {r}"
            assert {row.status for row in rows.values()} <= {"materialized", "warned"}
            assert_one_lake_file_per_dataset(pg_env, DAY)
            assert verify_range(pg_env, DAY, DAY) == [], f"round {r}"
        for name, proc in procs.items():
            assert proc.wait(timeout=120) == 0, f"worker {name}: {logs()}"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=60)
        engine.dispose()
        monitor.dispose()


# ---------------------------------------------------------------- 6. watcher crash between emit and cursor

LANDING_SOURCE = [
    (10, "alice", 19.99, "2026-03-01 00:00:00"),
    (11, "bob", 5.01, "2026-03-01 06:30:00"),
    (11, "bob", 7.01, "2026-03-01 06:30:00", "2026-03-01 07:00:00"),
    (13, "carol", 100.00, "2026-03-01 12:00:00"),
    (20, "dave", 40.00, "2026-03-02 10:00:00"),
]
LANDED_CSV = (
    "order_id,customer_id,amount,order_date,updated_at,channel\n"
    "11,bob,9.50,2026-03-01T06:30:00Z,2026-03-01T08:00:00Z,file\n"  # replaces both source versions of 11
    "50,erin,25.25,2026-03-01T15:00:00Z,2026-03-01T15:00:00Z,file\n"
    "51,frank,12.00,2026-03-02T09:00:00Z,2026-03-02T09:00:00Z,file\n"
    "52,grace,3.33,2026-03-03T09:00:00Z,2026-03-03T09:00:00Z,file\n"  # a day with no source rows
)
# by hand: source rows of each day, with the file's rows winning by order_id
EXPECTED_WITH_FILE = {
    DAY: (round(19.99 + 9.50 + 100.00 + 25.25, 2), 4),
    DAY2: (round(40.00 + 12.00, 2), 2),
    DAY3: (3.33, 1),
}


def stored_events(resource_id: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventResourceFilter

    found = []
    with get_client(sync_client=True) as client:
        page = client.read_events(EventFilter(resource=EventResourceFilter(id=[resource_id])), limit=50)
        found.extend(page.events)
        while page.next_page:
            page = client.read_events_page(page.next_page)
            found.extend(page.events)
    return found


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_watcher_crash_between_emit_and_cursor_re_emits_once_and_the_file_counts_once(pg_env, s3_bucket, s3_endpoint):
    from prefect.events import Event

    from flows.landing_watcher import landed_event, send_event, watch_pass
    from revenue.io.landing.listing import watch_once

    seed_orders(pg_env, LANDING_SOURCE)
    key = f"landing/orders-{uuid.uuid4().hex[:6]}.csv"
    s3_client(s3_endpoint).put_object(Bucket=s3_bucket, Key=key, Body=LANDED_CSV.encode())
    uri = f"s3://{s3_bucket}/{key}"

    registry = environment(pg_env).registry
    [landed] = watch_once(registry)  # registered: landing 1, not announced yet
    assert landed.uri == uri
    send_event(landed_event(landed, pg_env))  # ... and the watcher "crashes" before marking it announced
    assert watch_once(registry) == [landed]

    assert watch_pass(pg_env) == [uri]  # re-emitted: it was not marked announced
    assert watch_once(registry) == []
    assert watch_pass(pg_env) == []  # nothing new

    # a sentinel sent after both emissions: once it is stored, so are they
    sentinel_uri = f"s3://{s3_bucket}/sentinel-{uuid.uuid4().hex[:6]}"
    sentinel = Event(event="revenue.test.sentinel", resource={"prefect.resource.id": sentinel_uri})
    send_event(sentinel)
    wait_for(lambda: stored_events(sentinel_uri), 120, "the server to store the sentinel event", interval=1)
    events = stored_events(uri)
    assert [e.id for e in events if e.id == landed.event_id] == [landed.event_id], events
    assert all(e.event == "revenue.file.landed" for e in events)

    # the file processed twice (the second time forced) counts once
    for force in (False, True):
        outcomes = daily_revenue(landed_key=uri, env=pg_env, force=force)
        assert sorted(o.partition for o in outcomes) == [d.isoformat() for d in sorted(EXPECTED_WITH_FILE)]
        published = environment(pg_env).warehouse.read_table("daily_revenue")
        got = {row.order_date: (round(float(row.revenue), 2), int(row.order_count)) for row in published.itertuples()}
        assert got == EXPECTED_WITH_FILE, f"force={force}"
        current = environment(pg_env).registry.current_files(min(EXPECTED_WITH_FILE), max(EXPECTED_WITH_FILE))
        assert {d: [v.uri for v in files] for d, files in current.items()} == {d: [uri] for d in EXPECTED_WITH_FILE}

    # still exactly one stored event for that object version
    events = stored_events(uri)
    assert [e.id for e in events if e.id == landed.event_id] == [landed.event_id], events
