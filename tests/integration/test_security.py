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
from pathlib import Path

import pytest
import sqlalchemy as sa

from flows.daily_revenue import daily_revenue
from revenue.io.environment import environment, forget_environments
from revenue.io.orders_table import create_orders_table, load_orders
from revenue.io.warehouse.ledger import read_ledger
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
    from blocks.create import blocks_from_environ, save_environment

    name = f"sec-{uuid.uuid4().hex[:8]}"
    save_environment(name, blocks_from_environ({**pg_s3_environ(pg_url, s3_endpoint, bucket), **overrides}))
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
            state = daily_revenue(landed_key=key, env=pg_env, return_state=True)
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

    [outcome] = daily_revenue(partition_date=DAY.isoformat(), env=env)

    assert outcome.outcome == "published"
    assert published(env, "daily_revenue").to_dict(orient="records") == [
        {"order_date": DAY, "revenue": 125.00, "order_count": 3}
    ]
    assert table in sa.inspect(engine).get_table_names()
    # the second run fingerprints the same table (quoted) and is a cache hit
    [again] = daily_revenue(partition_date=DAY.isoformat(), env=env)
    assert again.outcome == "cache hit"


def test_a_source_table_name_that_is_sql_fails_cleanly_and_executes_nothing(pg_env, pg_url, s3_endpoint, s3_bucket):
    seed_orders(pg_env, ROWS)
    [first] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert first.outcome == "published"
    before = published(pg_env, "daily_revenue")

    hostile = "orders; DROP TABLE analytics.daily_revenue; --"
    env = save_env(pg_url, s3_endpoint, s3_bucket, REVENUE_SOURCE_TABLE=hostile)
    state = daily_revenue(partition_date=DAY.isoformat(), env=env, return_state=True)

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

    state = daily_revenue(partition_date=DAY.isoformat(), env=env, return_state=True)

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
    ledger = read_ledger(environment(env).warehouse, DAY, DAY)
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

    state = daily_revenue(landed_key=uri, env=pg_env, return_state=True)

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
    assert len(read_ledger(environment(pg_env).warehouse, DAY, DAY)) == 4


# --------------------------------------------------------------------------- credentials


def test_no_credential_in_results_artifacts_error_markers_or_states(pg_env, pg_url, s3_endpoint, s3_bucket):
    s3 = s3_client(s3_endpoint)
    seed_orders(pg_env, ROWS)
    states = [
        daily_revenue(partition_date=DAY.isoformat(), env=pg_env, return_state=True),
        daily_revenue(partition_date="2026-03-09", env=pg_env, return_state=True),  # no orders: raw gate fails
    ]
    bad = (HEADER + "1,alice,10.00,2026-03-02T10:00:00Z\n2,bob,3.00,01/03/2026\n").encode()
    s3.put_object(Bucket=s3_bucket, Key="landing/partly.csv", Body=bad)
    s3.put_object(Bucket=s3_bucket, Key="landing/broken.csv.gz", Body=b"\x1f\x8b\x08\x00garbage")
    for key in ("partly.csv", "broken.csv.gz"):
        states.append(daily_revenue(landed_key=f"s3://{s3_bucket}/landing/{key}", env=pg_env, return_state=True))
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


def test_connection_failures_leak_no_credential_to_cli_output_or_events(pg_url, s3_endpoint, s3_bucket, capsys):
    """The source database refuses connections (nothing listens on its port) and the
    object store's endpoint is unreachable: what the CLI prints, the run's states and every
    event the server recorded for it name the failure, never a password or a secret key."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventOccurredFilter

    from cli.main import main
    from testkit.services import free_port
    from testkit.waiting import wait_for

    closed = free_port()
    dead_db = sa.engine.make_url(with_password(pg_url)).set(host="127.0.0.1", port=closed)
    db_url = dead_db.render_as_string(hide_password=False)
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    env = save_env(
        pg_url,
        s3_endpoint,
        s3_bucket,
        REVENUE_SOURCE_DB_URL=db_url,
        REVENUE_WAREHOUSE_DB_URL=db_url,
        AWS_ENDPOINT_URL_S3=f"http://127.0.0.1:{free_port()}",
    )
    capsys.readouterr()

    code = main(["run", "--date", DAY.isoformat(), "--env", env])
    printed = capsys.readouterr()

    assert code == 1
    assert "could not" in printed.err.lower() or "unavailable" in printed.err.lower(), printed.err
    secrets = {S3_SECRET_KEY, DB_PASSWORD}
    texts = {"cli stdout": printed.out, "cli stderr": printed.err}

    def failed_run_events():
        with get_client(sync_client=True) as client:
            page = client.read_events(EventFilter(occurred=EventOccurredFilter(since=since)), limit=50)
        found = [e for e in page.events if e.event == "prefect.flow-run.Failed"]
        return page.events if found else None

    events = wait_for(failed_run_events, 60, "the failed run's events to reach the server", 0.5)
    for event in events:
        texts[f"event {event.event} {event.id}"] = event.model_dump_json()
    assert any("prefect.task-run" in e.event for e in events), "no task-run event read: the search proves nothing"
    for secret in secrets:
        leaks = [where for where, text in texts.items() if secret in text]
        assert not leaks, f"a credential appears in {leaks}"


# --------------------------------------------------------------------------- configuration input


SECRET = "Hunter2-NeverShow-9x"


def test_a_bad_url_never_repeats_its_password(monkeypatch, capsys):
    """`revenue blocks create` with a malformed URL that carries a password: the error names
    the variable and the URL with its password redacted, never the password."""
    from cli.main import main

    good = {
        "REVENUE_SOURCE_DB_URL": "sqlite:///x.db",
        "REVENUE_WAREHOUSE_DB_URL": "sqlite:///y.db",
        "REVENUE_LAKE_URL": "s3://bucket/lake",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "not-the-secret-we-look-for",
    }
    bad = {
        "REVENUE_LAKE_URL": f"https://admin:{SECRET}@lake.example.com/data",
        "REVENUE_LANDING_URL": f"ftp://ops:{SECRET}@files.example.com/in",
        "REVENUE_RESULTS_URL": f"s3://admin:{SECRET}@/results",
        "REVENUE_SOURCE_DB_URL": f"postgresql://shop:{SECRET}@db.example.com:notaport/shop",
        "REVENUE_WAREHOUSE_DB_URL": f"postgresql+nodriver://shop:{SECRET}@db.example.com/shop",
        "AWS_ENDPOINT_URL_S3": f"http://minio:{SECRET}@127.0.0.1:9000",
    }
    for variable, value in bad.items():
        for name in (*good, *bad):
            monkeypatch.delenv(name, raising=False)
        for name, good_value in good.items():
            monkeypatch.setenv(name, good_value)
        monkeypatch.setenv(variable, value)

        code = main(["blocks", "create", "--env", "sec-bad-url"])
        printed = capsys.readouterr()

        assert code != 0, (variable, printed.out)
        assert SECRET not in printed.out + printed.err, (variable, printed.err)
        assert variable in printed.err, (variable, printed.err)
        assert ":***@" in printed.err or "user or password" in printed.err, (variable, printed.err)


def test_redaction_keeps_the_user_host_and_database():
    from revenue.redaction import redact

    assert redact("postgresql://user:pw@host/db") == "postgresql://user:***@host/db"
    assert redact(f"x http://:{SECRET}@h:1/p y") == "x http://:***@h:1/p y"
    assert redact(f"s3://a:{SECRET}@b@c/d") == "s3://a:***@c/d"
    assert redact("http://user@host/x") == "http://user@host/x"


@pytest.mark.parametrize("name", ["../x", "../../x", "..", "a/../../x", "/etc/passwd", "local/../../x", "./local"])
def test_a_config_name_that_escapes_the_revenue_home_is_refused(name, tmp_path, monkeypatch, capsys):
    """`--env ../x` would read ``<home>/environments/../x.json``: refused before any file
    is read, with one clean line."""
    from cli.main import main

    outside = tmp_path / "x.json"
    outside.write_text('{"REVENUE_SOURCE_DB_URL": "sqlite:///stolen.db"}')
    with pytest.raises(SystemExit) as exit_:
        main(["status", "--env", name])
    printed = capsys.readouterr()
    assert exit_.value.code == 2
    assert "invalid environment name" in printed.err and len(printed.err.strip().splitlines()) == 1, printed.err


def test_the_manifest_path_refuses_a_name_outside_its_directory(tmp_path):
    from revenue.io.manifest import manifest_path, read_manifest

    (tmp_path / "x.json").write_text("{}")
    for name in ("../x", "../../x", "/tmp/x"):
        with pytest.raises(ValueError, match="invalid environment name"):
            read_manifest(tmp_path / "home", name)
    assert manifest_path(tmp_path, "local") == tmp_path / "environments" / "local.json"


# --------------------------------------------------------------------------- the dev server


def _http(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None):
    """(status, headers, body) of one request; an HTTP error status is an answer too."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_a_page_from_another_origin_cannot_read_a_secret_from_the_dev_server(tmp_path, pg_url, s3_endpoint):
    """The Prefect server `revenue dev` starts, with the project's own commands working
    against it: a request from another local origin (a page on 127.0.0.1:9999) without the
    auth string is refused (401) and gets no CORS grant; the UI's own origin does."""
    import json
    import os
    import subprocess
    import sys

    from cli import dev, devserver
    from testkit.services import free_port

    state_home = tmp_path / ".revenue"
    port = free_port()
    ui, api = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/api"
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REVENUE_", "AWS_"))},
        **pg_s3_environ(pg_url, s3_endpoint, "dev-bucket"),
        "REVENUE_HOME": str(state_home),
        "PREFECT_HOME": str(tmp_path / "client-prefect"),  # no profile of the user's names a server
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    with dev.prefect_server(port, api, state_home) as server:
        devserver.record(
            state_home,
            devserver.DevServer(api_url=api, ui_url=ui, dev_pid=os.getpid(), server_pid=server.pid, config="local"),
        )
        created = subprocess.run(
            [sys.executable, "-m", "cli", "blocks", "create", "--env", "devsec"],
            env=environ,
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert created.returncode == 0, created.stderr[-3000:]
        assert "temporary server" not in created.stderr.lower()
        assert "saved aws-credentials/devsec-aws" in created.stdout

        evil = "http://127.0.0.1:9999"
        query = json.dumps({"include_secrets": True}).encode()
        json_headers = {"Content-Type": "application/json"}
        status, headers, body = _http(f"{api}/block_documents/filter", "POST", query, {**json_headers, "Origin": evil})
        assert S3_SECRET_KEY not in body and DB_PASSWORD not in body
        assert status in (401, 403), (status, body[:300])
        granted = {k.lower(): v for k, v in headers.items()}.get("access-control-allow-origin")
        assert granted not in ("*", evil), headers
        # the browser's preflight for that request is not granted either
        status, headers, _ = _http(
            f"{api}/block_documents/filter",
            "OPTIONS",
            headers={
                "Origin": evil,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        granted = {k.lower(): v for k, v in headers.items()}.get("access-control-allow-origin")
        assert granted not in ("*", evil), (status, headers)
        # the UI's own origin is granted, the UI knows it must log in, and CSRF is on
        _, headers, _ = _http(
            f"{api}/health",
            "OPTIONS",
            headers={"Origin": ui, "Access-Control-Request-Method": "GET"},
        )
        assert {k.lower(): v for k, v in headers.items()}.get("access-control-allow-origin") == ui, headers
        settings = json.loads(_http(f"{ui}/ui-settings")[2])
        assert settings["auth"] == "BASIC" and settings["csrf_enabled"] is True, settings

        # with the auth string (what the UI sends once logged in) the secret is there: the
        # refusal above was the server's, not a query that could find nothing
        import base64

        secret_file = devserver.auth_path(state_home)
        assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
        token = base64.b64encode(secret_file.read_text().strip().encode()).decode()
        authorized = {"Authorization": f"Basic {token}"}
        status, _, body = _http(f"{api}/csrf-token?client=security-test", headers=authorized)
        assert status == 200, body
        csrf = {"Prefect-Csrf-Token": json.loads(body)["token"], "Prefect-Csrf-Client": "security-test"}
        status, _, body = _http(f"{api}/block_documents/filter", "POST", query, {**json_headers, **authorized, **csrf})
        assert status == 200 and S3_SECRET_KEY in body
        assert secret_file.read_text().strip() not in created.stdout + created.stderr
