"""End to end: a real ``prefect server`` on loopback, ``prefect deploy --all`` from
prefect.yaml, a process worker, ``prefect deployment run``, and a file put into the S3
landing prefix (moto's server) turning into exactly one flow run."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa

from tests.services import S3_ACCESS_KEY, S3_SECRET_KEY, free_port, fresh_database, moto_s3, postgres_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
UTC = dt.timezone.utc


class Stack:
    """The running services and the environment every CLI call gets."""

    def __init__(self, env: dict[str, str], pg_url: str, bucket: str, endpoint: str) -> None:
        self.env, self.pg_url, self.bucket, self.endpoint = env, pg_url, bucket, endpoint

    def run(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        result = subprocess.run(list(args), cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        return result

    def s3(self):
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=S3_ACCESS_KEY,
                            aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1")

    def sql(self, query: str, **params) -> list:
        engine = sa.create_engine(self.pg_url)
        try:
            with engine.connect() as connection:
                return list(connection.execute(sa.text(query), params))
        finally:
            engine.dispose()


def wait_for(predicate, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    import urllib.request

    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    bucket = f"landing-{uuid.uuid4().hex[:8]}"
    with postgres_server() as admin_url, fresh_database(admin_url) as pg_url, moto_s3() as endpoint:
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=S3_ACCESS_KEY,
                     aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1").create_bucket(Bucket=bucket)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REVENUE_", "AWS_"))},
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT),
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(port),
            "REVENUE_ENV": "e2e",
            "REVENUE_PROJECT_DIR": str(ROOT),
            "REVENUE_SOURCE_DB_URL": pg_url,
            "REVENUE_WAREHOUSE_DB_URL": pg_url,
            "REVENUE_LAKE_URL": f"s3://{bucket}/lake",
            "REVENUE_LANDING_URL": f"s3://{bucket}/landing",
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": endpoint,
        }
        logs = home / "logs"
        logs.mkdir()
        server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                  cwd=ROOT, env=env, stdout=open(logs / "server.log", "w"), stderr=subprocess.STDOUT)
        worker = None
        try:
            def healthy() -> bool:
                try:
                    return urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2).status == 200
                except OSError:
                    return False

            wait_for(healthy, 120, "the prefect server")
            stack = Stack(env, pg_url, bucket, endpoint)
            stack.logs = logs
            stack.run(str(BIN / "revenue"), "blocks", "create", "--env", "e2e")
            stack.run(str(BIN / "prefect"), "work-pool", "create", "revenue-process", "--type", "process")
            stack.run(str(BIN / "prefect"), "--no-prompt", "deploy", "--all")
            worker = subprocess.Popen(
                [str(BIN / "prefect"), "worker", "start", "--pool", "revenue-process", "--limit", "4"],
                cwd=ROOT, env=env, stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT)
            yield stack
        finally:
            for process in (worker, server):
                if process is not None:
                    process.terminate()
                    try:
                        process.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        process.kill()


def seed(stack: Stack, rows: list[tuple]) -> None:
    import pandas as pd

    from revenue.io.orders_table import create_orders_table, load_orders

    engine = sa.create_engine(stack.pg_url)
    create_orders_table(engine)
    frame = pd.DataFrame(rows, columns=["order_id", "customer_id", "amount", "order_date"])
    frame["order_date"] = pd.to_datetime(frame["order_date"], utc=True)
    frame["updated_at"] = frame["order_date"]
    frame["channel"] = "web"
    load_orders(engine, frame)
    engine.dispose()


@contextmanager
def api(stack: Stack):
    """A client of the e2e server (not of any other Prefect API this process knows)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: stack.env["PREFECT_API_URL"]}):
        with get_client(sync_client=True) as client:
            yield client


def flow_runs(stack: Stack, deployment: str):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    with api(stack) as client:
        found = client.read_deployment_by_name(deployment)
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[found.id])))


def published_revenue(stack: Stack) -> dict[dt.date, tuple[float, int]]:
    return {r.order_date: (float(r.revenue), int(r.order_count))
            for r in stack.sql("SELECT order_date, revenue, order_count FROM analytics.daily_revenue")}


def test_deployment_run_publishes_the_day(stack: Stack):
    seed(stack, [(1, "a", 10.0, "2026-02-27 10:00:00"), (2, "b", 5.5, "2026-02-27 11:00:00")])
    result = stack.run(str(BIN / "prefect"), "deployment", "run", "daily-revenue/daily",
                       "-p", "partition_date=2026-02-27", "--watch", timeout=600)
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
            deployment.id, state=Scheduled(scheduled_time=dt.datetime(2026, 3, 2, 6, 0, tzinfo=UTC)))

        def finished():
            state = client.read_flow_run(run.id).state
            return state if state.is_final() else None

        state = wait_for(finished, 300, "the scheduled run")
    assert state.is_completed(), state.message
    assert published_revenue(stack)[dt.date(2026, 3, 1)] == (7.25, 1)
    assert dt.date(2026, 3, 2) not in published_revenue(stack)


def test_a_landed_file_becomes_exactly_one_flow_run_and_replays_change_nothing(stack: Stack):
    s3 = stack.s3()
    body = (
        "order_id,customer_id,amount,order_date\n"
        "100,x,20.00,2026-03-03T10:00:00Z\n"
        "101,y,30.00,2026-03-04T09:00:00Z\n"
        "102,y,\"1,5\",2026-03-04T09:30:00Z\n"
    ).encode()
    s3.put_object(Bucket=stack.bucket, Key="landing/orders-0303.csv", Body=body)
    stack.run(str(BIN / "revenue"), "watch", "--once", "--config", "e2e", timeout=600)

    def completed_runs():
        runs = flow_runs(stack, "daily-revenue/on-landing")
        done = [r for r in runs if r.state and r.state.is_final()]
        return runs if runs and len(done) == len(runs) else None

    runs = wait_for(completed_runs, 300, "the on-landing flow run", interval=2)
    assert len(runs) == 1 and runs[0].state.is_completed(), [r.state for r in runs]
    assert runs[0].parameters["landed_key"] == f"s3://{stack.bucket}/landing/orders-0303.csv"
    revenue = published_revenue(stack)
    assert revenue[dt.date(2026, 3, 3)] == (20.0, 1)
    assert revenue[dt.date(2026, 3, 4)] == (30.0, 1)  # "1,5" is quarantined, not dropped
    rejected = stack.sql("SELECT reason FROM analytics.rejected_orders WHERE partition_date = '2026-03-04'")
    assert [r.reason for r in rejected] == ["amount is not a finite number"]

    # the same file again (same ETag), another watcher pass, and a replayed event
    s3.put_object(Bucket=stack.bucket, Key="landing/orders-0303.csv", Body=body)
    stack.run(str(BIN / "revenue"), "watch", "--once", "--config", "e2e", timeout=600)
    from flows.landing_watcher import landed_event, send_event
    from revenue.io.registry import LandedVersion

    from prefect.settings import PREFECT_API_URL, temporary_settings

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
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", f"--user-data-dir={profile}", "--dump-dom", "--virtual-time-budget=15000", url],
            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_ui_shows_the_grid_with_the_failed_day_its_cause_and_dated_run_names(stack: Stack):
    """In a real browser: the live partition-status artifact, rendered by the Prefect UI,
    holds the failed day with its cause and the run to open; the runs list shows dated names."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    seed(stack, [(300, None, 5.0, "2026-03-05 10:00:00"), (301, None, 6.0, "2026-03-05 11:00:00")])
    failed = subprocess.run([str(BIN / "prefect"), "deployment", "run", "daily-revenue/daily",
                             "-p", "partition_date=2026-03-05", "--watch"],
                            cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=600)
    assert "Failed" in failed.stdout + failed.stderr, failed.stdout[-2000:]
    with api(stack) as client:
        [grid] = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["partition-status"])),
                                       sort=ArtifactSort.CREATED_DESC, limit=1)
    assert "| 2026-03-05 | 🟥 failed | quality gate failed for cleaned_orders partition 2026-03-05" in grid.data

    ui = stack.env["PREFECT_API_URL"].removesuffix("/api")
    page = chromium_dom(f"{ui}/artifacts/artifact/{grid.id}")
    assert "🟥 failed" in page and "quality gate failed for cleaned_orders partition 2026-03-05" in page, page[-3000:]
    assert "null customer_id" in page and "daily-revenue-2026-03-05" in page
    assert "🟥 05" in page  # the day's cell in the calendar
    [run] = [r for r in flow_runs(stack, "daily-revenue/daily") if r.parameters.get("partition_date") == "2026-03-05"]
    assert run.name == "daily-revenue-2026-03-05" and run.state.message.startswith("2026-03-05 failed: quality gate")
    assert {r.name for r in flow_runs(stack, "daily-revenue/on-landing")} == {"landing-orders-0303.csv"}
    run_page = chromium_dom(f"{ui}/runs/flow-run/{run.id}")
    assert "daily-revenue-2026-03-05" in run_page and "Failed" in run_page, run_page[-3000:]

    screenshots = os.environ.get("REVENUE_E2E_SCREENSHOTS")
    if screenshots:  # `make screenshots`: the README's pictures, from this live UI
        stack.run(sys.executable, str(ROOT / "scripts" / "ui_screenshots.py"), "--out", screenshots,
                  "--grid", str(grid.id), timeout=600)
