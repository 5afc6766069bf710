"""The lake never shows a version the warehouse did not publish.

A reader finds a day's published lake file as docs/architecture.md tells it to: the file the ledger's
``lake_uri`` names for the dataset and day. Against Postgres and moto's S3 server, a publish
whose commit the database refuses after the lake files were written leaves that file (and
its bytes) as they were, and the day's next publish leaves one part file per dataset.
"""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
import pytest
import sqlalchemy as sa

from flows.daily_revenue import daily_revenue
from revenue.io.environment import environment
from revenue.io.lake import read_partition
from revenue.io.warehouse.ledger import read_ledger
from tests.integration.helpers import seed_orders

DAY = dt.date(2026, 3, 1)
DATASETS = ("cleaned_orders", "daily_revenue")
V1 = [
    (10, "alice", 19.99, "2026-03-01 00:00:00"),
    (11, "bob", 5.01, "2026-03-01 06:30:00"),
]
V2 = V1 + [(12, "carol", 100.00, "2026-03-01 12:00:00")]

REFUSE_COMMIT = """
CREATE FUNCTION analytics.refuse_publish() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'refused at commit by the test';
END $$;
CREATE CONSTRAINT TRIGGER refuse_publish AFTER INSERT OR UPDATE ON analytics.partition_ledger
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.status <> 'failed')
    EXECUTE FUNCTION analytics.refuse_publish();
"""


def published_file(config: str, dataset: str, day: dt.date) -> tuple[str, pd.DataFrame]:
    """The key and rows of the file the ledger names for ``dataset`` on ``day`` (as a lake
    reader is told to find the published version)."""
    env = environment(config)
    [uri] = [r.lake_uri for r in read_ledger(env.warehouse, day, day) if r.dataset == dataset]
    key = env.lake.key_of(uri)
    assert key is not None, uri
    return key, pd.read_parquet(io.BytesIO(env.lake.get(key)))


def part_files(config: str, dataset: str, day: dt.date) -> list[str]:
    """The Parquet files a reader listing the day's folder sees."""
    prefix = f"{dataset}/order_date={day.isoformat()}/"
    return [o.key for o in environment(config).lake.list(prefix) if o.key.endswith(".parquet")]


@pytest.mark.timeout(600)
def test_a_commit_refused_after_the_lake_was_written_leaves_the_published_lake_file(pg_env, pg_url):
    seed_orders(pg_env, V1)
    [first] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert first.outcome == "published"
    before = {d: published_file(pg_env, d, DAY) for d in DATASETS}
    assert before["daily_revenue"][1]["order_count"].tolist() == [2]

    seed_orders(pg_env, V2)
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(REFUSE_COMMIT))
        state = daily_revenue(partition_date=DAY.isoformat(), env=pg_env, return_state=True)
        assert state.is_failed(), state
        assert "refused at commit by the test" in (state.message or ""), state.message

        # the warehouse kept V1, and so does every lake file a reader is pointed at
        assert [int(n) for n in environment(pg_env).warehouse.read_table("daily_revenue", DAY)["order_count"]] == [2]
        for dataset, (key, rows) in before.items():
            now_key, now_rows = published_file(pg_env, dataset, DAY)
            assert now_key == key
            pd.testing.assert_frame_equal(now_rows, rows)
            assert part_files(pg_env, dataset, DAY) == [key], "the refused publish left its lake file"
        pd.testing.assert_frame_equal(
            read_partition(environment(pg_env), "daily_revenue", DAY), before["daily_revenue"][1]
        )
    finally:
        with engine.connect() as connection:
            connection.execute(sa.text("DROP TRIGGER IF EXISTS refuse_publish ON analytics.partition_ledger"))
        engine.dispose()

    [again] = daily_revenue(partition_date=DAY.isoformat(), env=pg_env)
    assert again.outcome == "published"
    for dataset in DATASETS:
        key, rows = published_file(pg_env, dataset, DAY)
        assert key != before[dataset][0]
        assert part_files(pg_env, dataset, DAY) == [key]
    assert published_file(pg_env, "daily_revenue", DAY)[1]["order_count"].tolist() == [3]
    assert read_partition(environment(pg_env), "daily_revenue", DAY)["order_count"].tolist() == [3]


def test_publishes_in_a_row_leave_one_part_file_per_dataset_and_day(sqlite_env):
    keys = []
    for rows in (V1, V2, V1):
        seed_orders(sqlite_env, rows)
        [outcome] = daily_revenue(partition_date=DAY.isoformat(), env=sqlite_env)
        assert outcome.outcome == "published"
        named = {d: published_file(sqlite_env, d, DAY)[0] for d in DATASETS}
        for dataset, key in named.items():
            assert part_files(sqlite_env, dataset, DAY) == [key]
        keys.append(named)
    assert read_partition(environment(sqlite_env), "daily_revenue", DAY)["order_count"].tolist() == [2]
    assert len({k["daily_revenue"] for k in keys}) == 3, "each publish writes its own file"
