"""The environments the integration tests borrow come back empty: nothing a test wrote (a
table in any schema, an object, a bucket notification, a SQLite file) is seen by the next."""

from __future__ import annotations

import sqlalchemy as sa

from testkit.services import aws_client, notify_to_new_queue


def test_a_postgres_environment_is_lent_again_empty(pg_pool, s3_endpoint):
    with pg_pool.lease() as lent:
        engine = sa.create_engine(lent.pg_url)
        with engine.begin() as connection:
            connection.execute(sa.text('CREATE SCHEMA "A schema"'))
            connection.execute(sa.text('CREATE TABLE "A schema".t (x int)'))
            connection.execute(sa.text("CREATE TABLE public.orders (x int)"))
        held = engine.connect()  # a session left open, as a crashed test leaves one
        held.execute(sa.text("SELECT pg_advisory_lock(42)"))
        s3 = aws_client("s3", s3_endpoint)
        s3.put_object(Bucket=lent.bucket, Key="lake/x.parquet", Body=b"x")
        notify_to_new_queue(s3_endpoint, lent.bucket)
        first = lent
    with pg_pool.lease() as lent:
        assert lent is first  # the same database and bucket, not new ones
        after = sa.create_engine(lent.pg_url)
        with after.connect() as connection:
            tables = connection.execute(
                sa.text(
                    "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema <> 'pg_catalog'"
                )
            ).all()
            schemas = connection.execute(sa.text("SELECT schema_name FROM information_schema.schemata")).scalars()
            assert [t for t in tables if t[0] != "information_schema"] == []
            assert "A schema" not in set(schemas)
            assert connection.execute(sa.text("SELECT pg_try_advisory_lock(42)")).scalar() is True
        assert s3.list_objects_v2(Bucket=lent.bucket).get("KeyCount") == 0
        assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket=lent.bucket)
        after.dispose()
    held.invalidate()  # its session was ended
    engine.dispose()


def test_a_sqlite_environment_is_lent_again_empty(sqlite_pool):
    with sqlite_pool.lease() as lent:
        (lent.root / "source.db").write_bytes(b"not empty")
        (lent.root / "lake" / "daily_revenue").mkdir()
        first = lent
    with sqlite_pool.lease() as lent:
        assert lent is first
        assert sorted(p.name for p in lent.root.iterdir()) == ["lake", "landing", "results"]
        assert not any((lent.root / "lake").iterdir())


def test_an_environment_whose_blocks_a_test_saved_again_is_not_lent_again(sqlite_pool):
    from tests.integration.conftest import _save_environment

    with sqlite_pool.lease() as lent:
        _save_environment(lent.env, {"REVENUE_SOURCE_DB_URL": "sqlite:///elsewhere.db", **_local(lent.root)})
        first = lent
    with sqlite_pool.lease() as lent:
        assert lent is not first


def _local(root) -> dict[str, str]:
    return {
        "REVENUE_WAREHOUSE_DB_URL": f"sqlite:///{root / 'warehouse.db'}",
        "REVENUE_LAKE_URL": str(root / "lake"),
    }
