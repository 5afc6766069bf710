"""The deployed stack the end-to-end modules share, as production self-hosts it: a real
``prefect server`` on loopback backed by Postgres (``PREFECT_API_DATABASE_CONNECTION_URL``),
``revenue blocks create``, a process work pool, ``prefect deploy --all`` from prefect.yaml,
process workers started as the README says (``--limit``), Postgres for the source and the
warehouse and moto's S3 server for the lake and the landing zone; with the helpers that read
what the runs did (flow runs, published numbers, numbers straight from the source)."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from testkit import waiting
from testkit.services import (
    PrefectServer,
    aws_client,
    fresh_database,
    moto_s3,
    pg_s3_environ,
    postgres_server_for_prefect,
    process_workers,
    running_prefect_server,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun, State

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
UTC = dt.timezone.utc
WORKERS = ("worker-a", "worker-b")
POOL = "revenue-process"


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 1.0) -> T:
    """``testkit.waiting.wait_for``, asking once a second: live servers and processes."""
    return waiting.wait_for(predicate, timeout, what, interval)


def readme_worker_limit() -> int:
    """The ``--limit`` of the worker command the README tells users to start on each machine:
    the stack starts its workers exactly that way (without a limit, the first worker to poll
    took every chunk run of a multi-run backfill)."""
    found = re.findall(r"prefect worker start --pool revenue-process --limit (\d+)", (ROOT / "README.md").read_text())
    assert found, "the README no longer says how to start a worker with a limit"
    assert len(set(found)) == 1, f"the README gives several worker limits: {sorted(set(found))}"
    return int(found[0])


class Stack:
    """The running services and the environment every CLI call gets."""

    def __init__(
        self,
        env: dict[str, str],
        pg_url: str,
        bucket: str,
        endpoint: str,
        home: Path | None = None,
        server: PrefectServer | None = None,
    ) -> None:
        self.env, self.pg_url, self.bucket, self.endpoint = env, pg_url, bucket, endpoint
        self.home, self.server = home, server

    def run(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(list(args), cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        return result

    def s3(self) -> S3Client:
        return aws_client("s3", self.endpoint)

    def sql(self, query: str, **params: Any) -> list[sa.Row[Any]]:
        engine = sa.create_engine(self.pg_url)
        try:
            with engine.connect() as connection:
                return list(connection.execute(sa.text(query), params))
        finally:
            engine.dispose()

    def execute(self, statement: str, **params: Any) -> int:
        """One write in its own transaction; returns the rows it touched."""
        engine = sa.create_engine(self.pg_url)
        try:
            with engine.begin() as connection:
                return connection.execute(sa.text(statement), params).rowcount
        finally:
            engine.dispose()


@contextmanager
def deployed_stack(home: Path, environ: dict[str, str] | None = None, config: str = "e2e") -> Iterator[Stack]:
    """Postgres (a database for the source and warehouse, one for the Prefect server), moto's
    S3 with a landing bucket, a live Prefect server, ``revenue blocks create --env config``
    (``environ`` adds ``REVENUE_*`` settings), the ``revenue-process`` pool and ``prefect
    deploy --all``: every deployment is there, no worker runs yet (``workers``)."""
    bucket = f"landing-{uuid.uuid4().hex[:8]}"
    with (
        postgres_server_for_prefect() as admin_url,
        fresh_database(admin_url) as pg_url,
        fresh_database(admin_url) as prefect_db,
        moto_s3() as endpoint,
    ):
        aws_client("s3", endpoint).create_bucket(Bucket=bucket)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REVENUE_", "AWS_"))},
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT),
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_API_DATABASE_CONNECTION_URL": make_url(prefect_db)
            .set(drivername="postgresql+asyncpg")
            .render_as_string(hide_password=False),
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "REVENUE_ENV": config,
            "REVENUE_PROJECT_DIR": str(ROOT),
            **pg_s3_environ(pg_url, endpoint, bucket),
            **(environ or {}),
        }
        with running_prefect_server(home, env) as server:  # its log: <home>/server.log
            env["PREFECT_API_URL"] = server.api
            stack = Stack(env, pg_url, bucket, endpoint, Path(home), server)
            stack.run(str(BIN / "revenue"), "blocks", "create", "--env", config)
            stack.run(str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process")
            stack.run(str(BIN / "prefect"), "--no-prompt", "deploy", "--all")
            yield stack


@contextmanager
def workers(stack: Stack, names: tuple[str, ...] = WORKERS) -> Iterator[list[subprocess.Popen[bytes]]]:
    """A process worker per name on the pool, started as the README says (``--limit``), its
    log ``<home>/<name>.log``; stopped afterwards."""
    assert stack.home is not None
    with process_workers(POOL, names, stack.env, ROOT, stack.home, limit=readme_worker_limit()) as started:
        yield started


def seed(stack: Stack, rows: list[tuple[int, str, float, str]]) -> None:
    """Append ``(order_id, customer_id, amount, order_date)`` rows to the source's orders
    (one transaction; ``updated_at`` is the order's time, channel ``web``)."""
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


def seed_days(stack: Stack, first: dt.date, days: int, per_day: int, first_id: int) -> None:
    """``per_day`` valid orders on each of ``days`` days from ``first`` (cents that differ
    from day to day, so a day swapped or summed twice shows)."""
    rows: list[tuple[int, str, float, str]] = []
    for d in range(days):
        for i in range(per_day):
            day = first + dt.timedelta(days=d)
            rows.append(
                (
                    first_id + d * per_day + i,
                    f"c{i % 4}",
                    round(1 + (d * 7 + i) % 50 + 0.01 * (d + 1), 2),
                    f"{day} {i % 24:02d}:{i % 60:02d}:00",
                )
            )
    seed(stack, rows)


@contextmanager
def api(stack: Stack) -> Iterator[SyncPrefectClient]:
    """A client of the e2e server (not of any other Prefect API this process knows)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: stack.env["PREFECT_API_URL"]}):
        with get_client(sync_client=True) as client:
            yield client


def flow_runs(stack: Stack, deployment: str) -> list[FlowRun]:
    """Every flow run of ``deployment`` (``flow/name``), scheduled ones included."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    with api(stack) as client:
        found = client.read_deployment_by_name(deployment)
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[found.id]))
        )


def final_state(stack: Stack, run_id: uuid.UUID, timeout: float = 600) -> State:
    """The run's state once it is final."""
    with api(stack) as client:

        def finished() -> State | None:
            state = client.read_flow_run(run_id).state
            return state if state is not None and state.is_final() else None

        return wait_for(finished, timeout, f"flow run {run_id}", interval=2)


def published_revenue(stack: Stack) -> dict[dt.date, tuple[float, int]]:
    """``daily_revenue``'s revenue and order count per day."""
    return {
        r.order_date: (float(r.revenue), int(r.order_count))
        for r in stack.sql("SELECT order_date, revenue, order_count FROM analytics.daily_revenue")
    }


def source_truth(stack: Stack, first: dt.date, last: dt.date) -> dict[dt.date, tuple[float, int]]:
    """Revenue and order count per UTC day straight from the orders table, in SQL."""
    return {
        r.day: (float(r.revenue), int(r.orders))
        for r in stack.sql(
            "SELECT (order_date AT TIME ZONE 'UTC')::date AS day, SUM(amount) AS revenue, COUNT(*) AS orders "
            "FROM orders WHERE (order_date AT TIME ZONE 'UTC')::date BETWEEN :first AND :last GROUP BY 1",
            first=first,
            last=last,
        )
    }
