"""Helpers shared by integration tests: loading orders and reading what was published."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from revenue.io.environment import environment
from revenue.io.orders_table import create_orders_table, load_orders
from revenue.io.warehouse.ledger import read_ledger

UTC = dt.timezone.utc
REPO = Path(__file__).resolve().parents[2]


def subprocess_env() -> dict[str, str]:
    """The environment of a child process that talks to this session's Prefect API."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PYTHONPATH": str(REPO)}


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def orders_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (order_id, customer_id, amount, order_date[, updated_at])."""
    frame = pd.DataFrame(
        [r if len(r) == 5 else (*r, r[3]) for r in rows],
        columns=["order_id", "customer_id", "amount", "order_date", "updated_at"],
    )
    frame["order_date"] = pd.to_datetime(frame["order_date"], utc=True, format="ISO8601")
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True, format="ISO8601")
    frame["order_id"] = frame["order_id"].astype("Int64")
    frame["channel"] = "web"
    return frame


def seed_orders(config: str, rows: list[tuple], replace: bool = True) -> None:
    engine = environment(config).source.engine
    create_orders_table(engine, replace=replace)
    load_orders(engine, orders_frame(rows))
    environment(config).source._columns = None


def published(config: str, table: str, day: dt.date | None = None) -> pd.DataFrame:
    """A published table without its bookkeeping columns; ``rejected_orders`` holds the
    quarantine of the published version only (``attempt = 'published'``)."""
    frame = environment(config).warehouse.read_table(table, day)
    if "attempt" in frame.columns:
        frame = frame[frame["attempt"] == "published"].reset_index(drop=True)
    return frame.drop(columns=[c for c in ("run_id", "published_at", "fingerprint", "attempt") if c in frame.columns])


def lake_object_key(config: str, dataset: str, day: dt.date) -> str:
    """The S3 object key of the lake file the ledger names as ``dataset``'s published
    version of ``day`` (how docs/architecture.md tells a lake reader to find it)."""
    [uri] = [r.lake_uri for r in read_ledger(environment(config).warehouse, day, day) if r.dataset == dataset]
    assert uri.startswith("s3://"), uri
    return uri.removeprefix("s3://").split("/", 1)[1]


@dataclass(frozen=True)
class RunRecords:
    """What the Prefect server holds for some flow runs."""

    artifacts: list
    logs: list
    task_runs: list
    flow_runs: list


def run_records(run_ids: list) -> RunRecords:
    """Artifacts, logs, task runs and flow runs of these flow runs only.

    Logs reach the server in batches: flush them first. Filtering on the runs matters:
    an unfiltered read returns only the server's first page, from any test.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        return RunRecords(
            artifacts=client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=run_ids))
            ),
            logs=client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids))),
            task_runs=client.read_task_runs(
                task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=run_ids))
            ),
            flow_runs=client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=run_ids))),
        )
