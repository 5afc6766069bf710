"""Integration fixtures: one Prefect test harness, Postgres and S3 servers per session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from testkit.services import (  # noqa: F401
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    fresh_database,
    moto_s3,
    pg_s3_environ,
    postgres_server,
    with_password,
)


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session", autouse=True)
def count_extracted_rows() -> None:
    """``testkit.counting.rows_read()``: the order rows every extract of this process returned."""
    from testkit import counting

    counting.install()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg_url(postgres_admin_url: str) -> Iterator[str]:
    with fresh_database(postgres_admin_url) as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    name = f"lake-{uuid.uuid4().hex[:10]}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


def s3_client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        region_name="us-east-1",
    )


def _save_environment(env: str, environ: dict[str, str]) -> str:
    from blocks.create import pipeline_from_environ, save_environment
    from revenue.io.environment import forget_environments

    save_environment(env, pipeline_from_environ(environ))
    forget_environments()
    return env


@pytest.fixture
def sqlite_env(tmp_path: Path) -> Iterator[str]:
    """An embedded-default environment (SQLite + local directories) in ``tmp_path``."""
    from blocks.create import embedded_default_environ
    from revenue.io.environment import forget_environments

    env = f"sqlite-{uuid.uuid4().hex[:8]}"
    environ = embedded_default_environ(tmp_path)
    for key in ("REVENUE_LAKE_URL", "REVENUE_RESULTS_URL", "REVENUE_LANDING_URL"):
        Path(environ[key]).mkdir(parents=True, exist_ok=True)
    yield _save_environment(env, environ)
    forget_environments()


@pytest.fixture
def pg_env(pg_url: str, s3_endpoint: str, s3_bucket: str) -> Iterator[str]:
    """A Postgres (source + warehouse) and S3 (lake, results, landing) environment."""
    from revenue.io.environment import forget_environments

    env = f"pg-{uuid.uuid4().hex[:8]}"
    yield _save_environment(env, pg_s3_environ(pg_url, s3_endpoint, s3_bucket))
    forget_environments()
