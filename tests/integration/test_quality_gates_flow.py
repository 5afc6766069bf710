"""Quality gates through Prefect's engine: warnings publish and are recorded; a critical
failure publishes nothing and leaves the earlier version byte-for-byte intact."""

from __future__ import annotations

import datetime as dt
import json

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

from flows.daily_revenue import daily_revenue
from revenue.io.environment import environment
from revenue.io.lake import published_uris
from revenue.io.warehouse.ledger import read_ledger
from tests.integration.helpers import published, seed_orders

DAY = dt.date(2026, 3, 1)
GOOD = [
    (1, "alice", 10.00, "2026-03-01 01:00:00"),
    (2, "bob", 20.00, "2026-03-01 02:00:00"),
]
ALL_INVALID = [
    (None, "alice", 10.00, "2026-03-01 01:00:00"),
    (3, None, 20.00, "2026-03-01 02:00:00"),
    (4, "carol", None, "2026-03-01 03:00:00"),
]


def snapshot(config: str) -> dict[str, object]:
    """Everything published for DAY: full warehouse rows and lake file bytes."""
    env = environment(config)
    tables = {
        t: published(config, t, DAY).to_dict(orient="records")
        for t in ("daily_revenue", "customer_daily_spend", "rejected_orders")
    }
    uris = published_uris(env, DAY)
    files = {d: (uris[d], env.lake.get(env.lake.key_of(uris[d]) or "")) for d in ("daily_revenue", "cleaned_orders")}
    return {"tables": tables, "files": files}


def test_negative_amounts_publish_with_a_recorded_warning(sqlite_env):
    seed_orders(sqlite_env, [*GOOD, (3, "carol", -5.00, "2026-03-01 03:00:00")])
    state = daily_revenue(partition_date=DAY.isoformat(), env=sqlite_env, return_state=True)
    [outcome] = state.result()

    assert outcome.outcome == "published"
    assert outcome.revenue == 25.00
    assert outcome.gates["cleaned_orders"] == "warned"
    ledger = {r.dataset: r for r in read_ledger(environment(sqlite_env).warehouse, DAY, DAY)}
    assert ledger["cleaned_orders"].status == "warned"
    assert ledger["raw_orders"].status == "materialized"

    # Other tests publish the same day into their own environments on the same server,
    # so look only at the artifacts of this flow run.
    this_run = ArtifactFilter(
        key=ArtifactFilterKey(any_=["quality-2026-03-01"]),
        flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
    )
    with get_client(sync_client=True) as client:
        [quality] = client.read_artifacts(artifact_filter=this_run)  # one per partition and run
    assert "2026-03-01" in (quality.description or "") and "published" in quality.description
    assert "| `cleaned_orders` | 3 (0 rejected) |" in quality.data  # the stage table
    assert "expect_column_values_to_be_between(amount_cents)" in quality.data
    assert "`-500`" in quality.data and "warning" in quality.data


def test_critical_failure_publishes_nothing_and_keeps_the_previous_version(sqlite_env):
    seed_orders(sqlite_env, GOOD)
    [first] = daily_revenue(partition_date=DAY.isoformat(), env=sqlite_env)
    assert first.outcome == "published"
    before = snapshot(sqlite_env)

    seed_orders(sqlite_env, ALL_INVALID)
    state = daily_revenue(partition_date=DAY.isoformat(), env=sqlite_env, return_state=True)

    assert state.is_failed()
    assert "cleaned_orders" in state.message and "2026-03-01" in state.message, state.message
    after = snapshot(sqlite_env)
    for table, rows in before["tables"].items():
        assert after["tables"][table] == rows, table
    assert after["files"] == before["files"]

    ledger = {r.dataset: r for r in read_ledger(environment(sqlite_env).warehouse, DAY, DAY)}
    assert ledger["cleaned_orders"].status == "failed"
    assert ledger["cleaned_orders"].published_fingerprint == first.fingerprint
    assert "expect_table_row_count_to_be_between" in ledger["cleaned_orders"].error
    assert json.loads(ledger["cleaned_orders"].gate_summary)["status"] == "failed"


def test_a_day_with_no_orders_fails_its_raw_gate_and_says_so(sqlite_env):
    seed_orders(sqlite_env, GOOD)
    state = daily_revenue(partition_date="2026-03-05", env=sqlite_env, return_state=True)
    assert state.is_failed()
    assert "raw_orders" in state.message and "2026-03-05" in state.message
    assert environment(sqlite_env).warehouse.read_table("daily_revenue").empty
