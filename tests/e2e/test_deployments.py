"""End to end, as production self-hosts it: a real ``prefect server`` on loopback backed by
Postgres (``PREFECT_API_DATABASE_CONNECTION_URL``), ``prefect deploy --all`` from
prefect.yaml, two process workers on one pool, ``prefect deployment run``, a file put into
the S3 landing prefix (moto's server) turning into exactly one flow run, and multi-run
backfills whose chunks both workers take."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from testkit.e2e_stack import (
    BIN,
    ROOT,
    UTC,
    WORKERS,
    Stack,
    api,
    deployed_stack,
    final_state,
    flow_runs,
    published_revenue,
    seed,
    seed_days,
    source_truth,
    wait_for,
    workers,
)
from testkit.services import notify_to_new_queue

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    # as the README starts them: a parent and its 6 chunk runs never fit on one worker
    with deployed_stack(tmp_path_factory.mktemp("prefect-home")) as stack, workers(stack):
        yield stack


def test_deployment_run_publishes_the_day(stack: Stack):
    seed(stack, [(1, "a", 10.0, "2026-02-27 10:00:00"), (2, "b", 5.5, "2026-02-27 11:00:00")])
    result = stack.run(
        str(BIN / "prefect"),
        "deployment",
        "run",
        "daily-revenue/daily",
        "-p",
        "partition_date=2026-02-27",
        "--watch",
        timeout=600,
    )
    assert "Completed" in result.stdout + result.stderr, result.stdout[-2000:]
    assert published_revenue(stack)[dt.date(2026, 2, 27)] == (15.5, 2)


def test_cron_schedule_and_a_scheduled_run_processes_the_previous_utc_day(stack: Stack):
    from prefect.states import Scheduled

    seed(stack, [(10, "c", 7.25, "2026-03-01 23:59:59"), (11, "d", 1.0, "2026-03-02 00:00:01")])
    with api(stack) as client:
        deployment = client.read_deployment_by_name("daily-revenue/daily")
        [schedule] = deployment.schedules
        assert schedule.schedule.cron == "0 6 * * *"
        assert schedule.schedule.timezone == "UTC"
        run = client.create_flow_run_from_deployment(
            deployment.id, state=Scheduled(scheduled_time=dt.datetime(2026, 3, 2, 6, 0, tzinfo=UTC))
        )

    state = final_state(stack, run.id, timeout=300)
    assert state.is_completed(), state.message
    assert published_revenue(stack)[dt.date(2026, 3, 1)] == (7.25, 1)
    assert dt.date(2026, 3, 2) not in published_revenue(stack)


def test_a_landed_file_becomes_exactly_one_flow_run_and_replays_change_nothing(stack: Stack):
    s3 = stack.s3()
    body = (
        "order_id,customer_id,amount,order_date\n"
        "100,x,20.00,2026-03-03T10:00:00Z\n"
        "101,y,30.00,2026-03-04T09:00:00Z\n"
        '102,y,"1,5",2026-03-04T09:30:00Z\n'
    ).encode()
    s3.put_object(Bucket=stack.bucket, Key="landing/orders-0303.csv", Body=body)
    stack.run(str(BIN / "revenue"), "watch", "--once", "--env", "e2e", timeout=600)

    runs = final_runs(stack, "daily-revenue/on-landing", at_least=1)
    assert len(runs) == 1 and runs[0].state.is_completed(), [r.state for r in runs]
    assert runs[0].parameters["landed_key"] == f"s3://{stack.bucket}/landing/orders-0303.csv"
    revenue = published_revenue(stack)
    assert revenue[dt.date(2026, 3, 3)] == (20.0, 1)
    assert revenue[dt.date(2026, 3, 4)] == (30.0, 1)  # "1,5" is quarantined, not dropped
    rejected = stack.sql("SELECT reason FROM analytics.rejected_orders WHERE partition_date = '2026-03-04'")
    assert [r.reason for r in rejected] == ["amount is not a finite number"]

    # the same file again (same ETag), another watcher pass, and a replayed event
    s3.put_object(Bucket=stack.bucket, Key="landing/orders-0303.csv", Body=body)
    stack.run(str(BIN / "revenue"), "watch", "--once", "--env", "e2e", timeout=600)
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.landing_watcher import landed_event, send_event
    from revenue.io.landing.versions import LandedVersion

    uri = f"s3://{stack.bucket}/landing/orders-0303.csv"
    [(seq, etag)] = stack.sql("SELECT seq, etag FROM analytics.landing_registry WHERE uri = :uri", uri=uri)
    assert etag == s3.head_object(Bucket=stack.bucket, Key="landing/orders-0303.csv")["ETag"].strip('"')
    with temporary_settings({PREFECT_API_URL: stack.env["PREFECT_API_URL"]}):
        send_event(landed_event(LandedVersion(seq, uri, "orders-0303.csv", etag, len(body)), "e2e"))
    time.sleep(15)
    assert len(flow_runs(stack, "daily-revenue/on-landing")) == 1
    assert published_revenue(stack) == revenue


def chromium_dom(url: str) -> str:
    """The DOM the Prefect UI rendered at ``url``, from headless Chromium."""
    import shutil

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert browser, "no Chromium: `make test` installs it (apt-get install chromium)"
    import tempfile

    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                f"--user-data-dir={profile}",
                "--dump-dom",
                "--virtual-time-budget=15000",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def failed_run_log(stack: Stack, run_id) -> list[str]:
    """A finished run's log lines, oldest first, once its "Finished in state" line is in."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    def read() -> list:
        with api(stack) as client:
            return client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])), sort=LogSort.TIMESTAMP_ASC
            )

    def finished() -> list | None:
        logs = read()
        done = any(log.task_run_id is None and log.message.startswith("Finished in state") for log in logs)
        return logs if done else None

    return [log.message for log in wait_for(finished, 60, "the run's last log line")]


def test_the_ui_shows_the_grid_with_the_failed_day_its_cause_and_dated_run_names(stack: Stack):
    """In a real browser: the live partition-status artifact, rendered by the Prefect UI,
    holds the failed day with its cause and the run to open; the runs list shows dated names."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    seed(stack, [(300, None, 5.0, "2026-03-05 10:00:00"), (301, None, 6.0, "2026-03-05 11:00:00")])
    failed = subprocess.run(
        [
            str(BIN / "prefect"),
            "deployment",
            "run",
            "daily-revenue/daily",
            "-p",
            "partition_date=2026-03-05",
            "--watch",
        ],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Failed" in failed.stdout + failed.stderr, failed.stdout[-2000:]
    with api(stack) as client:
        [grid] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["partition-status"])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    assert "| 2026-03-05 | 🟥 failed | quality gate failed for cleaned_orders partition 2026-03-05" in grid.data

    ui = stack.env["PREFECT_API_URL"].removesuffix("/api")
    page = chromium_dom(f"{ui}/artifacts/artifact/{grid.id}")
    assert "🟥 failed" in page and "quality gate failed for cleaned_orders partition 2026-03-05" in page, page[-3000:]
    assert "…" in page and "daily-revenue-2026-03-05" in page  # the cause is cut, the run link stays in sight
    assert "🟥 05" in page  # the day's cell in the calendar
    [run] = [r for r in flow_runs(stack, "daily-revenue/daily") if r.parameters.get("partition_date") == "2026-03-05"]
    assert run.name == "daily-revenue-2026-03-05" and run.state.message.startswith("2026-03-05 failed: quality gate")
    assert "null customer_id" in run.state.message  # the run has the cause whole
    logs = failed_run_log(stack, run.id)  # run by a process worker: its log ends with the cause
    assert "null customer_id" in logs[-1] and logs[-1].startswith("Finished in state Failed"), logs[-3:]
    assert not any("Engine execution exited" in line or "Traceback" in line for line in logs), logs
    assert {r.name for r in flow_runs(stack, "daily-revenue/on-landing")} == {"landing-orders-0303.csv"}
    run_page = chromium_dom(f"{ui}/runs/flow-run/{run.id}")
    assert "daily-revenue-2026-03-05" in run_page and "Failed" in run_page, run_page[-3000:]

    from revenue.settings import E2E_SCREENSHOTS

    screenshots = E2E_SCREENSHOTS.value()
    if screenshots:  # `make screenshots`: the docs' pictures (docs/ui-*.png), from this live UI
        stack.run(
            sys.executable,
            str(ROOT / "scripts" / "ui_screenshots.py"),
            "--out",
            screenshots,
            "--grid",
            str(grid.id),
            timeout=600,
        )


def chunk_runs(stack: Stack, start: dt.date, end: dt.date):
    """The chunk runs of backfills inside ``[start, end]`` (tagged ``backfill-chunk``)."""
    return [
        r
        for r in flow_runs(stack, "backfill/range")
        if "backfill-chunk" in r.tags and start.isoformat() <= r.parameters["start"] <= end.isoformat()
    ]


def parent_runs(stack: Stack, start: dt.date, end: dt.date):
    return [
        r
        for r in flow_runs(stack, "backfill/range")
        if "backfill-chunk" not in r.tags
        and r.parameters.get("start") == start.isoformat()
        and r.parameters.get("end") == end.isoformat()
    ]


def final_runs(stack: Stack, deployment: str, at_least: int, before: set = frozenset(), timeout: float = 300):
    """The deployment's runs (but those in ``before``) once there are ``at_least`` and every one is final."""

    def all_final():
        runs = [r for r in flow_runs(stack, deployment) if r.id not in before]
        return runs if len(runs) >= at_least and all(r.state and r.state.is_final() for r in runs) else None

    return wait_for(all_final, timeout, f"{at_least} final run(s) of {deployment}", interval=2)


def start_backfill(stack: Stack, start: dt.date, end: dt.date, **parameters):
    """``prefect deployment run backfill/range`` (not waiting); returns the parent run."""
    args = [f"start={start}", f"end={end}", *(f"{k}={v}" for k, v in parameters.items())]
    before = {r.id for r in parent_runs(stack, start, end)}
    stack.run(str(BIN / "prefect"), "deployment", "run", "backfill/range", *(a for p in args for a in ("-p", p)))
    [run] = [r for r in parent_runs(stack, start, end) if r.id not in before]
    return run


def test_a_multi_run_backfill_is_shared_by_both_workers_and_a_rerun_starts_no_chunk(stack: Stack):
    first, last = dt.date(2026, 5, 1), dt.date(2026, 5, 30)
    seed_days(stack, first, 30, 12, first_id=500_000)
    parent = start_backfill(stack, first, last, partitions_per_run=5, max_concurrency=2)
    state = final_state(stack, parent.id)
    assert state.is_completed(), state.message

    chunks = chunk_runs(stack, first, last)
    assert sorted((r.parameters["start"], r.parameters["end"]) for r in chunks) == [
        (str(first + dt.timedelta(days=5 * n)), str(first + dt.timedelta(days=5 * n + 4))) for n in range(6)
    ]
    assert all(r.state.is_completed() for r in chunks), [(r.name, r.state.name, r.state.message) for r in chunks]
    assert {r.labels.get("prefect.worker.name") for r in chunks} == set(WORKERS)  # the run records say who ran it
    assert {r.parent_task_run_id is not None for r in chunks} == {True}  # linked to the parent as subflows

    truth = source_truth(stack, first, last)
    assert len(truth) == 30 and {d: published_revenue(stack)[d] for d in truth} == truth
    ledger = stack.sql(
        "SELECT DISTINCT partition_date, run_id FROM analytics.partition_ledger WHERE partition_date BETWEEN :f AND :l",
        f=first,
        l=last,
    )
    assert len(ledger) == 30 and {r.run_id for r in ledger} == {str(r.id) for r in chunks}
    stack.run(str(BIN / "revenue"), "verify", "--start", str(first), "--end", str(last), "--env", "e2e")
    with api(stack) as client:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

        [table] = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["backfill-chunks"]), flow_run_id=ArtifactFilterFlowRunId(any_=[parent.id])
            )
        )
    assert "worker-a" in str(table.data) and "worker-b" in str(table.data) and "5 published" in str(table.data)

    again = start_backfill(stack, first, last, partitions_per_run=5, max_concurrency=2)
    assert final_state(stack, again.id).is_completed()
    assert len(chunk_runs(stack, first, last)) == 6  # every day current: the rerun started no chunk


def test_a_chunk_run_killed_mid_way_is_finished_by_retrying_the_parent_with_nothing_lost_or_duplicated(stack: Stack):
    """Day 3 of chunk 1 is held at its publish (the test holds the day's advisory lock) while
    days 1-2 are published; then the chunk run's process is killed (SIGKILL), as a worker
    that dies would leave it. The parent ends Failed naming the days not computed; Prefect's
    Retry of the parent retries that chunk run in place and publishes only what is missing."""
    import signal

    from prefect.states import AwaitingRetry

    from revenue.io.warehouse.sql import advisory_key

    first, last = dt.date(2026, 6, 1), dt.date(2026, 6, 10)
    held_day = first + dt.timedelta(days=2)
    seed_days(stack, first, 10, 8, first_id=600_000)
    engine = sa.create_engine(stack.pg_url)
    lock = engine.connect()
    lock.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": advisory_key("analytics", held_day.isoformat())})
    try:
        parent = start_backfill(stack, first, last, partitions_per_run=5, max_concurrency=1)

        def first_days_published():
            try:
                rows = stack.sql(
                    "SELECT partition_date, published_at FROM analytics.partition_ledger "
                    "WHERE partition_date < :d AND partition_date >= :f AND dataset = 'daily_revenue'",
                    d=held_day,
                    f=first,
                )
            except sa.exc.ProgrammingError:  # no ledger yet: this test ran first
                return None
            return rows if len(rows) == 2 else None

        published_before = {r.partition_date: r.published_at for r in wait_for(first_days_published, 600, "days 1-2")}
        wait_for(  # the chunk run now waits for the day's lock, inside its publish
            lambda: stack.sql(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            120,
            "the chunk run to wait for the held day's lock",
        )
        [victim] = [r for r in chunk_runs(stack, first, last) if r.parameters["start"] == str(first)]
        os.kill(int(victim.infrastructure_pid), signal.SIGKILL)
        assert final_state(stack, victim.id).is_crashed()
    finally:
        lock.close()
        engine.dispose()

    state = final_state(stack, parent.id)
    assert state.is_failed()
    for day in ("2026-06-03", "2026-06-04", "2026-06-05"):
        assert f"{day} failed: not computed: its chunk run {victim.name} ended Crashed" in state.message, state.message
    assert "2026-06-06" not in state.message  # the other chunk run finished its days

    with api(stack) as client:  # what the UI's Retry button does
        client.set_flow_run_state(parent.id, AwaitingRetry(scheduled_time=dt.datetime.now(UTC)))
    state = final_state(stack, parent.id)
    assert state.is_completed(), state.message

    chunks = chunk_runs(stack, first, last)
    assert len(chunks) == 2 and all(r.state.is_completed() for r in chunks)  # the same two runs
    [rerun] = [r for r in chunks if r.id == victim.id]
    assert rerun.run_count == 2
    truth = source_truth(stack, first, last)
    assert len(truth) == 10 and {d: published_revenue(stack)[d] for d in truth} == truth
    after = {
        r.partition_date: r.published_at
        for r in stack.sql(
            "SELECT partition_date, published_at FROM analytics.partition_ledger WHERE dataset = 'daily_revenue' "
            "AND partition_date BETWEEN :f AND :l",
            f=first,
            l=last,
        )
    }
    assert {d: after[d] for d in published_before} == published_before  # days 1-2 were not published again
    spend = stack.sql(
        "SELECT order_date, SUM(order_count) AS n FROM analytics.customer_daily_spend "
        "WHERE order_date BETWEEN :f AND :l GROUP BY 1",
        f=first,
        l=last,
    )
    assert {r.order_date: int(r.n) for r in spend} == {d: n for d, (_, n) in truth.items()}  # no row twice


def test_with_s3_notifications_each_landed_file_is_one_run_and_the_prefix_is_not_listed(stack: Stack):
    """The environment's landing bucket sends s3:ObjectCreated notifications to SQS (moto's
    server): the watcher reads the queue, each notified file becomes exactly one on-landing
    run, and a file that was never notified (put before notifications were on) is never
    seen, which it would be if the prefix were listed."""
    s3 = stack.s3()
    csv = "order_id,customer_id,amount,order_date\n{id},q,{amount},{day}T10:00:00Z\n"
    s3.put_object(
        Bucket=stack.bucket,
        Key="landing/unnotified-0703.csv",
        Body=csv.format(id=700, amount="9.00", day="2026-07-03").encode(),
    )
    queue_url = notify_to_new_queue(stack.endpoint, stack.bucket)
    with_queue = Stack(
        {**stack.env, "REVENUE_LANDING_QUEUE_URL": queue_url}, stack.pg_url, stack.bucket, stack.endpoint
    )
    with_queue.run(str(BIN / "revenue"), "blocks", "create", "--env", "e2e")
    try:
        before = {r.id for r in flow_runs(stack, "daily-revenue/on-landing")}
        keys = ["landing/queued 0701.csv", "landing/queued-0702.csv"]
        for n, (key, day) in enumerate(zip(keys, ("2026-07-01", "2026-07-02"))):
            s3.put_object(Bucket=stack.bucket, Key=key, Body=csv.format(id=710 + n, amount="3.50", day=day).encode())
        stack.run(str(BIN / "revenue"), "watch", "--once", "--env", "e2e", timeout=600)

        final_runs(stack, "daily-revenue/on-landing", at_least=2, before=before)
        stack.run(str(BIN / "revenue"), "watch", "--once", "--env", "e2e", timeout=600)  # nothing new
        time.sleep(10)
        runs = [r for r in flow_runs(stack, "daily-revenue/on-landing") if r.id not in before]
        assert sorted(r.parameters["landed_key"] for r in runs) == sorted(f"s3://{stack.bucket}/{k}" for k in keys)
        assert all(r.state.is_completed() for r in runs), [r.state.message for r in runs]
        revenue = published_revenue(stack)
        assert revenue[dt.date(2026, 7, 1)] == (3.5, 1) and revenue[dt.date(2026, 7, 2)] == (3.5, 1)
        assert dt.date(2026, 7, 3) not in revenue
        assert not stack.sql("SELECT uri FROM analytics.landing_registry WHERE uri LIKE '%unnotified%'")
    finally:  # the other tests' watcher lists again
        stack.run(str(BIN / "revenue"), "blocks", "create", "--env", "e2e")
        s3.put_bucket_notification_configuration(Bucket=stack.bucket, NotificationConfiguration={})
