"""The flow against real backends: Postgres (source + warehouse) and S3 (moto's server,
over HTTP) for the lake, the task results and the landing zone."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from flows.daily_revenue import daily_revenue
from revenue.catalog import DAILY_REVENUE
from revenue.io.environment import environment
from testkit.services import S3_SECRET_KEY
from tests.integration.conftest import s3_client, with_password
from tests.integration.helpers import lake_object_key, published, run_records, seed_orders

DAY = dt.date(2026, 3, 1)

ROWS = [
    (10, "alice", 19.99, "2026-03-01 00:00:00"),
    (11, "bob", 5.01, "2026-03-01 06:30:00"),
    (11, "bob", 7.01, "2026-03-01 06:30:00", "2026-03-01 07:00:00"),
    (12, "alice", -3.00, "2026-03-01 23:59:59.999"),
    (13, "carol", 100.00, "2026-03-01 12:00:00"),
    (14, None, 1.00, "2026-03-01 12:00:00"),
    (15, "dave", 50.00, "2026-02-28 23:59:59.999"),
    (16, "dave", 60.00, "2026-03-02 00:00:00"),
]

EXPECTED_SQL = """
WITH day AS (
    SELECT *, row_number() OVER (PARTITION BY order_id ORDER BY updated_at DESC) AS version
    FROM orders
    WHERE order_date >= '2026-03-01T00:00:00Z' AND order_date < '2026-03-02T00:00:00Z'
      AND order_id IS NOT NULL AND customer_id IS NOT NULL AND amount IS NOT NULL
)
SELECT customer_id, sum(amount) AS daily_spend, count(*) AS order_count
FROM day WHERE version = 1 GROUP BY customer_id ORDER BY customer_id
"""


def test_published_rows_match_sql_and_lake_files_read_back_equal(pg_env, pg_url, s3_bucket, s3_endpoint):
    seed_orders(pg_env, ROWS)
    [outcome] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert outcome.outcome == "published"

    engine = sa.create_engine(pg_url)
    with engine.connect() as connection:
        expected = pd.read_sql(sa.text(EXPECTED_SQL), connection, coerce_float=False)
        tables = set(sa.inspect(connection).get_table_names(schema="analytics"))
    assert {"daily_revenue", "customer_daily_spend", "rejected_orders", "partition_ledger"} <= tables

    spend = published(pg_env, "customer_daily_spend")
    assert spend[["customer_id", "daily_spend", "order_count"]].to_dict(orient="records") == expected.to_dict(
        orient="records"
    )
    revenue = published(pg_env, "daily_revenue")
    assert revenue["revenue"].tolist() == [sum(expected["daily_spend"])]
    assert revenue["order_count"].tolist() == [int(expected["order_count"].sum())]

    s3 = s3_client(s3_endpoint)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket, Prefix="lake/")["Contents"])
    lake_keys = {d: lake_object_key(pg_env, d, DAY) for d in ("daily_revenue", "cleaned_orders")}
    for dataset, key in lake_keys.items():  # the file the ledger names, and only it, in the day's folder
        assert key.startswith(f"lake/{dataset}/order_date=2026-03-01/part-") and key.endswith(".parquet"), key
        assert [k for k in keys if k.startswith(f"lake/{dataset}/order_date=2026-03-01/")] == [key]
    assert any(k.startswith("lake/_prefect_results/compute_partition-2026-03-01-") for k in keys)
    body = s3.get_object(Bucket=s3_bucket, Key=lake_keys["daily_revenue"])["Body"].read()
    lake_revenue = pd.read_parquet(io.BytesIO(body))
    pd.testing.assert_frame_equal(
        lake_revenue.reset_index(drop=True),
        revenue[list(DAILY_REVENUE.column_names("transform"))].reset_index(drop=True),
        check_dtype=False,
    )
    body = s3.get_object(Bucket=s3_bucket, Key=lake_keys["cleaned_orders"])["Body"].read()
    cleaned = pd.read_parquet(io.BytesIO(body))
    assert sorted(cleaned["order_id"]) == [10, 11, 12, 13]
    assert cleaned.loc[cleaned.order_id == 11, "amount"].item() == Decimal("7.01")


def test_a_second_process_gets_cache_hits_from_s3_results(pg_env, tmp_path: Path):
    seed_orders(pg_env, ROWS)
    [first] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert first.outcome == "published"

    from prefect.settings import PREFECT_API_URL

    script = tmp_path / "second.py"
    script.write_text(
        textwrap.dedent(f"""
        from flows.daily_revenue import daily_revenue
        from testkit import counting
        counting.install()
        [outcome] = daily_revenue(partition_date="{DAY.isoformat()}", env="{pg_env}")
        print("OUTCOME", outcome.outcome, counting.rows_read())
    """)
    )
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PYTHONPATH": str(Path.cwd())}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OUTCOME cache hit 0" in result.stdout, result.stdout[-2000:]


def test_no_credential_appears_in_logs_artifacts_results_or_errors(
    pg_env, pg_url, s3_bucket, s3_endpoint, capfd, caplog
):
    seed_orders(pg_env, ROWS)
    states = [
        daily_revenue(partition_date=DAY.isoformat(), env=pg_env, return_state=True),
        daily_revenue(partition_date=DAY.isoformat(), env=pg_env, force=True, return_state=True),
    ]

    secrets = [S3_SECRET_KEY, sa.engine.make_url(with_password(pg_url)).password]

    # a run that fails on a database that refuses connections: its error names no secret
    from blocks.create import database_connector
    from revenue.io.environment import Environment, _cache

    broken = environment(pg_env).block.model_copy()
    broken.source = database_connector(
        sa.engine.make_url(with_password(pg_url))
        .set(host="127.0.0.1", port=1, query={})
        .render_as_string(hide_password=False),
        "test",
    )
    _cache["broken-env"] = Environment("broken-env", broken)
    try:
        failed = daily_revenue.with_options(retries=0)(
            partition_date=DAY.isoformat(), env="broken-env", return_state=True
        )
    finally:
        _cache.pop("broken-env", None)
    assert failed.is_failed(), "a run against a closed port succeeded"
    states.append(failed)
    error = failed.result(raise_on_failure=False)

    captured = capfd.readouterr()
    texts = [captured.out, captured.err, caplog.text, str(error), repr(error), str(failed.message)]
    records = run_records([state.state_details.flow_run_id for state in states])
    assert records.artifacts and records.logs, "nothing was read back: the search proves nothing"
    texts += [str(a.data) + str(a.description) for a in records.artifacts]
    texts += [log.message for log in records.logs]
    s3 = s3_client(s3_endpoint)
    for obj in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", []):
        texts.append(s3.get_object(Bucket=s3_bucket, Key=obj["Key"])["Body"].read().decode("latin-1"))
    for secret in secrets:
        assert not any(secret in text for text in texts), "a credential leaked"
    assert any("quality gate" in t.lower() or "raw_orders" in t for t in texts), (
        "nothing was captured: the search proves nothing"
    )


def test_a_ledger_an_older_version_wrote_gains_new_columns_and_keeps_its_rows(pg_env, pg_url):
    """A column a newer version added (``duration_ms``) is added in place: the published
    history in the ledger survives the upgrade."""
    seed_orders(pg_env, ROWS)
    daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    with sa.create_engine(pg_url).begin() as connection:
        connection.execute(sa.text("ALTER TABLE analytics.partition_ledger DROP COLUMN duration_ms"))

    from revenue.io.warehouse.database import Warehouse
    from revenue.io.warehouse.ledger import read_ledger

    upgraded = Warehouse(sa.create_engine(with_password(pg_url)), "analytics")
    upgraded.ensure_tables()
    rows = read_ledger(upgraded, DAY, DAY)
    assert {row.dataset for row in rows} >= {"raw_orders", "cleaned_orders", "daily_revenue"}
    assert all(row.published_fingerprint and row.duration_ms is None for row in rows)
    with sa.create_engine(pg_url).connect() as connection:
        assert not [s for s in sa.inspect(connection).get_schema_names() if "retired" in s]
