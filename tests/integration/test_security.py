"""Security of the pipeline against hostile or careless input, on Postgres + moto's S3.

- An event's key outside the configured landing prefix is refused before anything is
  read (or written: no error marker lands outside ``_errors/`` of the landing prefix).
- Identifiers from configuration (source table, warehouse schema) are quoted, never
  spliced into SQL.
- Values from data are bound parameters: a customer id that is SQL is stored as text.
- No credential ends up in task results, artifacts, error markers or state messages.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from decimal import Decimal

import sqlalchemy as sa

from flows.daily_revenue import daily_revenue
from revenue.io.environment import environment, forget_environments
from revenue.io.orders_table import create_orders_table, load_orders
from testkit.services import DB_PASSWORD, S3_SECRET_KEY, pg_s3_environ, with_password
from tests.integration.conftest import s3_client
from tests.integration.helpers import orders_frame, published, run_records, seed_orders

DAY = dt.date(2026, 3, 1)
HEADER = "order_id,customer_id,amount,order_date\n"
VALID_CSV = (HEADER + "1,mallory,1000.00,2026-03-01T10:00:00Z\n2,trent,500.00,2026-03-01T11:00:00Z\n").encode()
ROWS = [
    (10, "alice", 19.99, "2026-03-01 00:00:00"),
    (11, "bob", 5.01, "2026-03-01 06:30:00"),
    (12, "carol", 100.00, "2026-03-01 12:00:00"),
]


def save_env(pg_url: str, s3_endpoint: str, bucket: str, **overrides: str) -> str:
    from blocks.create import pipeline_from_environ, save_environment

    name = f"sec-{uuid.uuid4().hex[:8]}"
    save_environment(name, pipeline_from_environ({**pg_s3_environ(pg_url, s3_endpoint, bucket), **overrides}))
    forget_environments()
    return name


def bucket_keys(s3, bucket: str, prefix: str = "") -> list[str]:
    paginator = s3.get_paginator("list_objects_v2")
    return sorted(
        o["Key"] for page in paginator.paginate(Bucket=bucket, Prefix=prefix) for o in page.get("Contents", [])
    )


# --------------------------------------------------------------------------- landing prefix


def test_keys_outside_the_landing_prefix_are_refused_before_reading(pg_env, s3_endpoint, s3_bucket, caplog):
    s3 = s3_client(s3_endpoint)
    seed_orders(pg_env, [])
    other_bucket = f"other-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=other_bucket)
    # a valid orders file at every location: were any of them read, its rows would publish
    planted = {
        (s3_bucket, "lake/x.csv"),
        (other_bucket, "landing/x.csv"),
        (s3_bucket, "landing-evil/x.csv"),
        (s3_bucket, "landing/_errors/evil.csv"),
        (s3_bucket, "landing/_state/evil.csv"),
    }
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        for bucket, key in planted:
            s3.put_object(Bucket=bucket, Key=key, Body=VALID_CSV)
    puts = [r.getMessage() for r in caplog.records if r.name == "werkzeug" and "PUT" in r.getMessage()]
    assert len(puts) >= len(planted), "moto's request log is not captured: the no-read check below would prove nothing"
    before = {
        b: {k: s3.head_object(Bucket=b, Key=k)["ETag"] for k in bucket_keys(s3, b)} for b in (s3_bucket, other_bucket)
    }
    caplog.clear()

    refused = {
        f"s3://{s3_bucket}/lake/x.csv": "outside the landing prefix",
        f"s3://{other_bucket}/landing/x.csv": "outside the landing prefix",
        f"s3://{s3_bucket}/landing-evil/x.csv": "outside the landing prefix",
        f"s3://{s3_bucket}/landing/../lake/x.csv": "not a file key",
        f"s3://{s3_bucket}/landing/sub/../../lake/x.csv": "not a file key",
        "../lake/x.csv": "not a file key",
        "landing/../lake/x.csv": "not a file key",
        f"s3://{s3_bucket}/landing/_errors/evil.csv": "not a file key",
        "_errors/evil.csv": "not a file key",
        f"s3://{s3_bucket}/landing/_state/evil.csv": "not a file key",
        f"s3://{s3_bucket}/landing/": "not a file key",
    }
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        for key, why in refused.items():
            state = daily_revenue(landed_key=key, config=pg_env, return_state=True)
            assert state.is_failed(), key
            assert why in state.message and "landing prefix" in state.message, state.message
            assert key.strip() in state.message, state.message

    # not one request for a planted object's content or metadata (moto logs each request)
    requests = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    for bucket, key in planted:
        touched = [line for line in requests if re.search(rf"\"(GET|HEAD) /{bucket}/{re.escape(key)}[ ?]", line)]
        assert not touched, touched

    assert published(pg_env, "daily_revenue").empty
    assert published(pg_env, "customer_daily_spend").empty
    assert environment(pg_env).warehouse.read_table("landing_registry").empty
    # nothing written either: no error marker anywhere, every object as it was
    after = {
        b: {k: s3.head_object(Bucket=b, Key=k)["ETag"] for k in bucket_keys(s3, b)} for b in (s3_bucket, other_bucket)
    }
    assert after == before


# --------------------------------------------------------------------------- identifiers


def test_a_source_table_name_with_a_space_and_a_quote_works_end_to_end(pg_url, s3_endpoint, s3_bucket):
    table = 'weird "orders"'
    env = save_env(pg_url, s3_endpoint, s3_bucket, REVENUE_SOURCE_TABLE=table)
    engine = environment(env).source.engine
    create_orders_table(engine, name=table)
    load_orders(engine, orders_frame(ROWS), name=table)

    [outcome] = daily_revenue(partition_date=DAY.isoformat(), config=env)

    assert outcome.outcome == "published"
    assert published(env, "daily_revenue").to_dict(orient="records") == [
        {"order_date": DAY, "revenue": 125.00, "order_count": 3}
    ]
    assert table in sa.inspect(engine).get_table_names()
    # the second run fingerprints the same table (quoted) and is a cache hit
    [again] = daily_revenue(partition_date=DAY.isoformat(), config=env)
    assert again.outcome == "cache hit"


def test_a_source_table_name_that_is_sql_fails_cleanly_and_executes_nothing(pg_env, pg_url, s3_endpoint, s3_bucket):
    seed_orders(pg_env, ROWS)
    [first] = daily_revenue(partition_date=DAY.isoformat(), config=pg_env)
    assert first.outcome == "published"
    before = published(pg_env, "daily_revenue")

    hostile = "orders; DROP TABLE analytics.daily_revenue; --"
    env = save_env(pg_url, s3_endpoint, s3_bucket, REVENUE_SOURCE_TABLE=hostile)
    state = daily_revenue(partition_date=DAY.isoformat(), config=env, return_state=True)

    assert state.is_failed()
    assert hostile in state.message, state.message
    engine = sa.create_engine(pg_url)
    try:
        assert "daily_revenue" in sa.inspect(engine).get_table_names(schema="analytics")
        assert "orders" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    forget_environments()
    assert published(pg_env, "daily_revenue").equals(before)
    # and the message says what is wrong (OrdersSource.columns' "source table ... does not exist")
    assert "does not exist" in state.message, state.message


def test_a_warehouse_schema_with_a_capital_and_a_space_works(pg_url, s3_endpoint, s3_bucket):
    env = save_env(pg_url, s3_endpoint, s3_bucket, REVENUE_WAREHOUSE_SCHEMA="Revenue Mart")
    seed_orders(env, ROWS)

    state = daily_revenue(partition_date=DAY.isoformat(), config=env, return_state=True)

    assert state.is_completed(), state.message
    [outcome] = state.result()
    assert outcome.outcome == "published"
    engine = sa.create_engine(pg_url)
    try:
        inspector = sa.inspect(engine)
        assert "Revenue Mart" in inspector.get_schema_names()
        assert {"daily_revenue", "customer_daily_spend", "rejected_orders", "partition_ledger"} <= set(
            inspector.get_table_names(schema="Revenue Mart")
        )
        assert "analytics" not in inspector.get_schema_names()
        with engine.connect() as connection:
            revenue = connection.execute(sa.text('SELECT revenue, order_count FROM "Revenue Mart".daily_revenue')).one()
    finally:
        engine.dispose()
    assert tuple(revenue) == (125.00, 3)
    assert published(env, "daily_revenue")["revenue"].tolist() == [125.00]
    ledger = environment(env).warehouse.ledger(DAY, DAY)
    assert {r.status for r in ledger} == {"materialized"}


# --------------------------------------------------------------------------- values


HOSTILE_VALUES = [
    "'); DROP TABLE analytics.daily_revenue; --",
    "Robert'); DROP TABLE analytics.customer_daily_spend;--",
    'x" OR "1"="1',
    "$$; DELETE FROM analytics.partition_ledger; $$",
    "\\'; SELECT pg_sleep(10); --",
]


def test_hostile_values_in_a_landed_file_are_published_as_data(pg_env, pg_url, s3_endpoint, s3_bucket):
    s3 = s3_client(s3_endpoint)
    seed_orders(pg_env, [])

    def quoted(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    lines = [f"{100 + i},{quoted(v)},{i + 1}.00,2026-03-01T{10 + i}:00:00Z" for i, v in enumerate(HOSTILE_VALUES)]
    lines.append(f"200,{quoted(HOSTILE_VALUES[0])},abc,2026-03-01T20:00:00Z")  # quarantined, record kept verbatim
    key = "o'brien; DROP TABLE analytics.landing_registry; --.csv"
    s3.put_object(Bucket=s3_bucket, Key=f"landing/{key}", Body=(HEADER + "\n".join(lines) + "\n").encode())
    uri = f"s3://{s3_bucket}/landing/{key}"

    state = daily_revenue(landed_key=uri, config=pg_env, return_state=True)

    assert state.is_completed(), state.message
    spend = published(pg_env, "customer_daily_spend")
    assert dict(zip(spend.customer_id, spend.daily_spend)) == {v: Decimal(i + 1) for i, v in enumerate(HOSTILE_VALUES)}
    assert published(pg_env, "daily_revenue").to_dict(orient="records") == [
        {"order_date": DAY, "revenue": Decimal("15.00"), "order_count": 5}
    ]
    rejected = published(pg_env, "rejected_orders")
    assert rejected["order_id"].tolist() == ["200"]
    assert HOSTILE_VALUES[0] in rejected["record"].item()
    landed = environment(pg_env).warehouse.read_table("landing_registry")
    assert landed["uri"].tolist() == [uri]
    engine = sa.create_engine(pg_url)
    try:
        assert {"daily_revenue", "customer_daily_spend", "landing_registry", "partition_ledger"} <= set(
            sa.inspect(engine).get_table_names(schema="analytics")
        )
    finally:
        engine.dispose()
    assert len(environment(pg_env).warehouse.ledger(DAY, DAY)) == 4


# --------------------------------------------------------------------------- credentials


def test_no_credential_in_results_artifacts_error_markers_or_states(pg_env, pg_url, s3_endpoint, s3_bucket):
    s3 = s3_client(s3_endpoint)
    seed_orders(pg_env, ROWS)
    states = [
        daily_revenue(partition_date=DAY.isoformat(), config=pg_env, return_state=True),
        daily_revenue(partition_date="2026-03-09", config=pg_env, return_state=True),  # no orders: raw gate fails
    ]
    bad = (HEADER + "1,alice,10.00,2026-03-02T10:00:00Z\n2,bob,3.00,01/03/2026\n").encode()
    s3.put_object(Bucket=s3_bucket, Key="landing/partly.csv", Body=bad)
    s3.put_object(Bucket=s3_bucket, Key="landing/broken.csv.gz", Body=b"\x1f\x8b\x08\x00garbage")
    for key in ("partly.csv", "broken.csv.gz"):
        states.append(daily_revenue(landed_key=f"s3://{s3_bucket}/landing/{key}", config=pg_env, return_state=True))
    assert [s.is_completed() for s in states] == [True, False, True, False], [s.message for s in states]

    secrets = {S3_SECRET_KEY, DB_PASSWORD, sa.engine.make_url(with_password(pg_url)).password}
    results = bucket_keys(s3, s3_bucket, "lake/_prefect_results/")
    markers = bucket_keys(s3, s3_bucket, "landing/_errors/")
    assert sum("compute_partition-" in r for r in results) >= 2, results  # one small result per partition
    assert markers == ["landing/_errors/broken.csv.gz.error.json"]
    texts: dict[str, str] = {}
    for key in bucket_keys(s3, s3_bucket):  # results, markers, lake files, landed files
        texts[key] = s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read().decode("latin-1")

    records = run_records([s.state_details.flow_run_id for s in states])
    for artifact in records.artifacts:
        texts[f"artifact {artifact.key}"] = f"{artifact.data} {artifact.description}"
    for task_run in records.task_runs:
        texts[f"task run {task_run.id}"] = f"{task_run.name} {task_run.state and task_run.state.message}"
    for flow_run in records.flow_runs:
        texts[f"flow run {flow_run.id}"] = f"{flow_run.state.message} {flow_run.parameters}"
    for log in records.logs:
        texts[f"log {log.id}"] = log.message
    assert records.logs and len(records.flow_runs) == len(states), "runs not read back: the search proves nothing"
    for state in states:
        texts[f"state {state.state_details.flow_run_id}"] = f"{state.message} {state.data!r}"

    assert any(k.startswith("artifact quality-") for k in texts), "no artifact read: the search proves nothing"
    with environment(pg_env).warehouse.engine.connect() as connection:
        for n, (record, reason) in enumerate(
            connection.execute(sa.text("SELECT record, reason FROM analytics.landed_row_rejects"))
        ):
            texts[f"landed row reject {n}"] = f"{record} {reason}"
    [reject] = [t for k, t in texts.items() if k.startswith("landed row reject")]
    assert "01/03/2026" in reject  # the quarantined row is kept, and searched too
    for secret in secrets:
        leaks = [where for where, text in texts.items() if secret in text]
        assert not leaks, f"a credential appears in {leaks}"
