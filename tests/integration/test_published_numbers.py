"""Every published number is right, whatever order runs and files arrive in.

Each test reproduces one way the pipeline once published wrong numbers (or reported wrong
states) while every run was green, against Postgres, moto's S3 server and Prefect's engine,
and checks the published tables against values computed here by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from flows.backfill import backfill
from flows.daily_revenue import daily_revenue
from revenue.io.environment import environment
from revenue.io.warehouse.ledger import read_ledger
from revenue.status import partition_statuses
from revenue.verify import verify_range
from tests.integration.conftest import s3_client
from tests.integration.helpers import REPO, published, seed_orders, subprocess_env

DAY = dt.date(2026, 4, 1)
HEADER = "order_id,customer_id,amount,order_date\n"
SOURCE = [
    (1, "alice", 10.00, "2026-04-01 08:00:00"),
    (2, "bob", 20.00, "2026-04-01 09:00:00"),
    (3, "carol", 30.00, "2026-04-01 10:00:00"),
]


def land(s3, bucket: str, key: str, body: str) -> str:
    s3.put_object(Bucket=bucket, Key=f"landing/{key}", Body=body.encode())
    return f"s3://{bucket}/landing/{key}"


def revenue_of(config: str, day: dt.date = DAY) -> tuple[Decimal, int] | None:
    rows = published(config, "daily_revenue", day)
    return (Decimal(str(rows["revenue"].item())), int(rows["order_count"].item())) if len(rows) else None


def spend_of(config: str, day: dt.date = DAY) -> dict[str, Decimal]:
    rows = published(config, "customer_daily_spend", day)
    return {customer: Decimal(str(spend)) for customer, spend in zip(rows["customer_id"], rows["daily_spend"])}


def landing_order(config: str) -> list[str]:
    """The landed file URIs in the registry's landing order."""
    warehouse = environment(config).warehouse
    with warehouse.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT uri FROM analytics.landing_registry ORDER BY seq"))
        return [r.uri for r in rows]


# ------------------------------------------------------------------ 1: files landing together


CONCURRENT_RUN = textwrap.dedent("""
    import sys
    from flows.daily_revenue import daily_revenue
    state = daily_revenue(landed_key=sys.argv[1], env=sys.argv[2], return_state=True)
    print("STATE", state.type.value, state.message, flush=True)
""")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_files_landing_together_lose_no_orders_and_the_latest_landing_wins(pg_env, s3_endpoint, s3_bucket, tmp_path):
    """Four files for one day, each processed by its own run in its own process, all at once:
    the day holds every file's orders exactly once, the order all four carry has the amount
    of the latest landing, and a cron run afterwards changes nothing."""
    seed_orders(pg_env, SOURCE)
    s3 = s3_client(s3_endpoint)
    amounts = {}
    uris = []
    for n in range(4):
        amounts[n] = Decimal(f"{100 + n}.0{n}")
        body = (
            HEADER
            + f"{10 + n},file{n},{5 + n}.00,2026-04-01T11:0{n}:00Z\n"
            + f"500,shared,{amounts[n]},2026-04-01T12:00:00Z\n"
        )
        uris.append(land(s3, s3_bucket, f"together-{n}.csv", body))
    script = tmp_path / "run.py"
    script.write_text(CONCURRENT_RUN)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), uri, pg_env],
            cwd=REPO,
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for uri in uris
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert all("STATE COMPLETED" in out for out in outputs), [o[-1500:] for o in outputs]

    spend = spend_of(pg_env)
    assert {c: spend.get(c) for c in ("file0", "file1", "file2", "file3")} == {
        f"file{n}": Decimal(f"{5 + n}.00") for n in range(4)
    }, "a file's orders were lost"
    latest = landing_order(pg_env)[-1]
    winner = amounts[uris.index(latest)]
    assert spend["shared"] == winner
    expected_total = Decimal("60.00") + sum(Decimal(f"{5 + n}.00") for n in range(4)) + winner
    assert revenue_of(pg_env) == (expected_total, 3 + 4 + 1)

    before = {t: published(pg_env, t, DAY) for t in ("daily_revenue", "customer_daily_spend", "rejected_orders")}
    [cron] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert cron.outcome == "cache hit"
    for table, rows in before.items():
        pd.testing.assert_frame_equal(published(pg_env, table, DAY), rows)
    assert verify_range(pg_env, DAY, DAY) == []


# ------------------------------------------------------------------ 2: reruns keep landing order


def test_a_rerun_keeps_the_later_landing_whatever_the_file_names(pg_env, s3_endpoint, s3_bucket):
    seed_orders(pg_env, SOURCE)
    s3 = s3_client(s3_endpoint)
    first = land(s3, s3_bucket, "z-first.csv", HEADER + "2,bob,21.00,2026-04-01T09:00:00Z\n")
    daily_revenue(landed_key=first, env=pg_env)
    second = land(s3, s3_bucket, "a-second.csv", HEADER + "2,bob,22.00,2026-04-01T09:00:00Z\n")
    daily_revenue(landed_key=second, env=pg_env)
    assert spend_of(pg_env)["bob"] == Decimal("22.00")

    daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert spend_of(pg_env)["bob"] == Decimal("22.00")
    backfill(start=DAY.isoformat(), end=DAY.isoformat(), env=pg_env, force=True)
    assert spend_of(pg_env)["bob"] == Decimal("22.00")
    assert revenue_of(pg_env) == (Decimal("62.00"), 3)


# ------------------------------------------------------------------ 3: a cache hit never claims a publish


def test_a_day_deleted_from_the_warehouse_is_published_again_not_reported_cached(pg_env, pg_url):
    seed_orders(pg_env, SOURCE)
    [first] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert first.outcome == "published"
    engine = sa.create_engine(pg_url)
    with engine.begin() as connection:  # a restore or a truncate of the published tables
        connection.execute(sa.text("DELETE FROM analytics.daily_revenue"))
        connection.execute(sa.text("DELETE FROM analytics.customer_daily_spend"))
    engine.dispose()
    assert [s.state for s in partition_statuses(pg_env, DAY, DAY)] == ["missing"]

    [again] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert again.outcome == "published"
    assert revenue_of(pg_env) == (Decimal("60.00"), 3)
    assert spend_of(pg_env) == {"alice": Decimal("10.00"), "bob": Decimal("20.00"), "carol": Decimal("30.00")}

    [cached] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert cached.outcome == "cache hit"


def test_a_new_warehouse_on_the_same_source_and_lake_gets_the_day_published(
    pg_env, pg_url, postgres_admin_url, s3_endpoint, s3_bucket
):
    """Same source, same lake and result storage (so the same cache keys), a new warehouse."""
    from blocks.create import blocks_from_environ, save_environment
    from revenue.io.environment import forget_environments
    from testkit.services import fresh_database, pg_s3_environ, with_password

    seed_orders(pg_env, SOURCE)
    [first] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert first.outcome == "published"
    with fresh_database(postgres_admin_url) as new_warehouse:
        environ = {
            **pg_s3_environ(pg_url, s3_endpoint, s3_bucket),
            "REVENUE_WAREHOUSE_DB_URL": with_password(new_warehouse),
        }
        save_environment(f"{pg_env}-dr", blocks_from_environ(environ))
        forget_environments()
        try:
            [rerun] = daily_revenue(partition_date=DAY.isoformat(), env=f"{pg_env}-dr")
            assert rerun.outcome == "published"
            assert revenue_of(f"{pg_env}-dr") == (Decimal("60.00"), 3)
        finally:
            forget_environments()


# ------------------------------------------------------------------ 4, 5: verify and status tell the truth


def test_verify_is_clean_after_landed_days_and_catches_a_wrong_number(pg_env, pg_url, s3_endpoint, s3_bucket):
    seed_orders(pg_env, SOURCE)
    s3 = s3_client(s3_endpoint)
    uri = land(
        s3, s3_bucket, "late.csv", HEADER + "3,carol,33.33,2026-04-01T10:00:00Z\n4,dave,4.44,2026-04-01T11:00:00Z\n"
    )
    [outcome] = daily_revenue(landed_key=uri, env=pg_env)
    assert outcome.outcome == "published"
    assert revenue_of(pg_env) == (Decimal("67.77"), 4)
    assert verify_range(pg_env, DAY - dt.timedelta(days=1), DAY) == []

    engine = sa.create_engine(pg_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE analytics.customer_daily_spend SET daily_spend = daily_spend + 1 WHERE customer_id = 'dave'"
            )
        )
    engine.dispose()
    [difference] = verify_range(pg_env, DAY, DAY)
    assert difference.customers == ("dave",)


def test_status_is_materialized_after_landed_files_and_names_what_changed(pg_env, s3_endpoint, s3_bucket):
    seed_orders(pg_env, SOURCE)
    s3 = s3_client(s3_endpoint)
    first = land(s3, s3_bucket, "z-one.csv", HEADER + "7,gus,7.00,2026-04-01T07:00:00Z\n")
    daily_revenue(landed_key=first, env=pg_env)
    second = land(s3, s3_bucket, "a-two.csv", HEADER + "8,hal,8.00,2026-04-01T08:00:00Z\n")
    daily_revenue(landed_key=second, env=pg_env)

    [status] = partition_statuses(pg_env, DAY, DAY)
    assert (status.state, status.detail) == ("materialized", "")
    [rerun] = backfill(start=DAY.isoformat(), end=DAY.isoformat(), env=pg_env)
    assert rerun.outcome == "up to date"

    land(s3, s3_bucket, "z-one.csv", HEADER + "7,gus,7.70,2026-04-01T07:00:00Z\n")
    daily_revenue(landed_key=first, env=pg_env)  # its run publishes the new version
    seed_orders(pg_env, [(9, "ivy", 9.00, "2026-04-01 09:30:00")], replace=False)
    [status] = partition_statuses(pg_env, DAY, DAY)
    assert (status.state, status.detail) == ("stale", "source rows changed")

    third = land(s3, s3_bucket, "m-three.csv", HEADER + "10,jo,1.00,2026-04-01T10:00:00Z\n")
    registry = environment(pg_env).registry
    registry.registration(registry.register_landed_key(third, by="test"))  # registered and read, as a run does
    [status] = partition_statuses(pg_env, DAY, DAY)
    assert status.state == "stale"
    assert status.detail == f"source rows changed; new landed file {third}"

    backfill(start=DAY.isoformat(), end=DAY.isoformat(), env=pg_env)
    assert revenue_of(pg_env) == (
        Decimal("60.00") + Decimal("7.70") + Decimal("8.00") + Decimal("9.00") + Decimal("1.00"),
        7,
    )
    land(s3, s3_bucket, "a-two.csv", HEADER + "8,hal,8.80,2026-04-01T08:00:00Z\n")
    registry = environment(pg_env).registry
    registry.registration(registry.register_landed_key(second, by="test"))  # registered and read, as a run does
    [status] = partition_statuses(pg_env, DAY, DAY)
    assert (status.state, status.detail) == ("stale", f"landed file {second} replaced")


# ------------------------------------------------------------------ 6, 7, 8: money and ids by one contract


def test_customer_spend_sums_to_daily_revenue_to_the_cent_at_1e15(pg_env, s3_endpoint, s3_bucket):
    seed_orders(pg_env, [])
    s3 = s3_client(s3_endpoint)
    body = HEADER + (
        "1,whale,1000000000000000.00,2026-04-01T01:00:00Z\n"
        "2,whale,0.10,2026-04-01T02:00:00Z\n"
        "3,minnow,0.07,2026-04-01T03:00:00Z\n"
        "4,minnow,-999999999999999.99,2026-04-01T04:00:00Z\n"
    )
    daily_revenue(landed_key=land(s3, s3_bucket, "big.csv", body), env=pg_env)
    assert spend_of(pg_env) == {"whale": Decimal("1000000000000000.10"), "minnow": Decimal("-999999999999999.92")}
    assert revenue_of(pg_env) == (Decimal("0.18"), 4)
    assert sum(spend_of(pg_env).values()) == revenue_of(pg_env)[0]
    assert verify_range(pg_env, DAY, DAY) == []


def test_a_customer_written_123_point_0_in_a_file_is_the_source_customer_123(pg_env, s3_endpoint, s3_bucket):
    seed_orders(pg_env, [(1, "123", 10.00, "2026-04-01 08:00:00")])
    s3 = s3_client(s3_endpoint)
    daily_revenue(landed_key=land(s3, s3_bucket, "ids.csv", HEADER + "2,123.0,5.00,2026-04-01T09:00:00Z\n"), env=pg_env)
    assert spend_of(pg_env) == {"123": Decimal("15.00")}


def test_a_non_numeric_order_id_from_a_file_is_quarantined_not_published(pg_env, s3_endpoint, s3_bucket):
    seed_orders(pg_env, SOURCE)
    s3 = s3_client(s3_endpoint)
    uri = land(
        s3,
        s3_bucket,
        "odd-ids.csv",
        HEADER + "A-1001,zed,99.00,2026-04-01T09:00:00Z\n1002,yan,2.00,2026-04-01T09:00:00Z\n",
    )
    daily_revenue(landed_key=uri, env=pg_env)
    assert revenue_of(pg_env) == (Decimal("62.00"), 4)
    rejected = published(pg_env, "rejected_orders", DAY)
    assert rejected[["order_id", "reason", "origin", "line"]].values.tolist() == [
        ["A-1001", "order_id is not a 64-bit integer", uri, 2]
    ]


# ------------------------------------------------------------------ 9, 10: errors that say what happened


def test_a_failed_gate_says_why_and_keeps_the_attempts_quarantine(pg_env, pg_url):
    good = [(n, f"c{n}", 1.00, "2026-04-01 10:00:00") for n in range(1, 205)]
    seed_orders(pg_env, good)
    daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    before = {t: published(pg_env, t, DAY) for t in ("daily_revenue", "customer_daily_spend", "rejected_orders")}

    seed_orders(pg_env, [(n, None, 1.00, "2026-04-01 10:00:00", "2026-04-01 11:00:00") for n in range(1, 205)])
    state = daily_revenue(partition_date=DAY.isoformat(), env=pg_env, return_state=True)
    assert state.is_failed()
    assert "0 of 204 rows valid: 204 null customer_id" in state.message, state.message

    ledger = {r.dataset: r for r in read_ledger(environment(pg_env).warehouse, DAY, DAY)}
    assert ledger["cleaned_orders"].status == "failed"
    assert ledger["cleaned_orders"].rejected_count == 204
    assert json.loads(ledger["cleaned_orders"].rejected_reasons) == {"null customer_id": 204}
    assert "0 of 204 rows valid: 204 null customer_id" in ledger["cleaned_orders"].error
    attempt = environment(pg_env).warehouse.read_table("rejected_orders", DAY)
    failed = attempt[attempt.attempt == "failed"]
    assert len(failed) == 204 and set(failed.reason) == {"null customer_id"}
    for table, rows in before.items():  # the published version stays as it was
        assert published(pg_env, table, DAY).to_dict(orient="records") == rows.to_dict(orient="records"), table
    [status] = partition_statuses(pg_env, DAY, DAY)
    assert status.state == "failed" and "0 of 204 rows valid: 204 null customer_id" in status.detail


def test_a_csv_row_that_cannot_be_parsed_is_quarantined_with_its_line_and_the_rest_publishes(
    pg_env, s3_endpoint, s3_bucket
):
    seed_orders(pg_env, [])
    s3 = s3_client(s3_endpoint)
    body = (
        HEADER
        + "1,ann,1.00,2026-04-01T01:00:00Z\n"
        + "2,Smith, John,2.00,2026-04-01T02:00:00Z\n"  # 5 fields
        + "3,cat,abc,2026-04-01T03:00:00Z\n"  # a bad amount
        + "4,dan,4.00,01/04/2026\n"  # no usable date
        + "5,eve,5.00,2026-04-01T05:00:00Z\n"
    )
    uri = land(s3, s3_bucket, "mixed.csv", body)
    state = daily_revenue(landed_key=uri, env=pg_env, return_state=True)
    assert state.is_completed(), state.message
    assert revenue_of(pg_env) == (Decimal("6.00"), 2)
    rejected = published(pg_env, "rejected_orders", DAY)
    assert rejected[["origin", "line", "order_id", "reason"]].values.tolist() == [
        [uri, 4, "3", "amount is not a finite number"]
    ]
    registry = environment(pg_env).registry
    [version] = [v for v in registry.current_files(DAY, DAY)[DAY] if v.uri == uri]
    rejects = registry.rejects_of(version)
    assert rejects[["line", "reason"]].values.tolist() == [
        [3, "5 fields where the header has 4"],
        [5, "order_date is not a timestamp"],
    ]


def test_a_file_with_no_usable_row_fails_and_keeps_every_rows_reason(pg_env, s3_endpoint, s3_bucket):
    seed_orders(pg_env, [])
    s3 = s3_client(s3_endpoint)
    uri = land(s3, s3_bucket, "no-dates.csv", HEADER + "1,ann,1.00,01/04/2026\n2,bob,2.00,\n")
    state = daily_revenue(landed_key=uri, env=pg_env, return_state=True)
    assert state.is_failed() and "no row has a usable order_date" in state.message
    with environment(pg_env).warehouse.engine.connect() as connection:
        reasons = connection.execute(
            sa.text(
                "SELECT r.line, r.reason FROM analytics.landed_row_rejects r JOIN analytics.landing_registry l "
                "USING (seq) WHERE l.uri = :uri ORDER BY r.line"
            ),
            {"uri": uri},
        ).all()
    assert [tuple(r) for r in reasons] == [(2, "order_date is not a timestamp"), (3, "null order_date")]


# ------------------------------------------------------------------ what the review of the fix found


def test_a_new_version_of_a_file_recomputes_every_day_its_old_version_had(pg_env, s3_endpoint, s3_bucket):
    later = DAY + dt.timedelta(days=1)
    seed_orders(pg_env, [*SOURCE, (4, "dan", 4.00, "2026-04-02 08:00:00")])
    s3 = s3_client(s3_endpoint)
    uri = land(s3, s3_bucket, "f.csv", HEADER + "20,eve,5.00,2026-04-01T09:00:00Z\n21,fay,6.00,2026-04-02T09:00:00Z\n")
    daily_revenue(landed_key=uri, env=pg_env)
    assert revenue_of(pg_env, DAY) == (Decimal("65.00"), 4)

    land(s3, s3_bucket, "f.csv", HEADER + "21,fay,7.00,2026-04-02T09:00:00Z\n")  # no row on DAY any more
    outcomes = daily_revenue(landed_key=uri, env=pg_env)
    assert sorted(o.partition for o in outcomes) == [DAY.isoformat(), later.isoformat()]
    assert revenue_of(pg_env, DAY) == (Decimal("60.00"), 3)
    assert revenue_of(pg_env, later) == (Decimal("11.00"), 2)
    assert [s.state for s in partition_statuses(pg_env, DAY, later)] == ["materialized", "materialized"]
    assert verify_range(pg_env, DAY, later) == []


def test_a_registered_file_deleted_before_it_is_read_stops_no_run(pg_env, s3_endpoint, s3_bucket):
    from revenue.io.landing.listing import watch_once

    seed_orders(pg_env, SOURCE)
    s3 = s3_client(s3_endpoint)
    land(s3, s3_bucket, "gone.csv", HEADER + "30,gil,1.00,2026-04-01T09:00:00Z\n")
    [pending] = watch_once(environment(pg_env).registry)  # registered, not read yet
    s3.delete_object(Bucket=s3_bucket, Key="landing/gone.csv")

    [outcome] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert outcome.outcome == "published" and revenue_of(pg_env) == (Decimal("60.00"), 3)
    assert environment(pg_env).registry.registration(pending).read_status == "replaced"


def test_source_text_ids_keep_their_leading_zeros(pg_env):
    seed_orders(pg_env, [(1, "0123", 1.00, "2026-04-01 08:00:00"), (2, "123", 2.00, "2026-04-01 09:00:00")])
    daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert spend_of(pg_env) == {"0123": Decimal("1.00"), "123": Decimal("2.00")}
    assert verify_range(pg_env, DAY, DAY) == []


def test_a_publish_refuses_an_input_whose_source_rows_changed_after_it_was_planned(pg_env):
    from revenue.errors import InputSuperseded
    from revenue.io.partition_input import plan_inputs, still_current

    seed_orders(pg_env, SOURCE)
    env = environment(pg_env)
    [planned] = plan_inputs(env, [DAY])
    env.warehouse.check(still_current(env, planned), DAY)  # current: no refusal
    seed_orders(pg_env, [(9, "ivy", 9.00, "2026-04-01 09:30:00")], replace=False)
    with pytest.raises(InputSuperseded, match="source rows changed"):
        env.warehouse.check(still_current(env, planned), DAY)
