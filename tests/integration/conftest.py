"""Integration fixtures: one Prefect test harness, Postgres and S3 servers per session, and
environments lent to one test at a time.

Saving an environment's seven blocks costs seconds (Prefect builds every block's JSON schema
on each save), creating a database and a bucket more, so a test does not make its own: it
borrows one from a session pool (``EnvironmentPool``) that made it once, and hands it back
emptied (every schema of the database dropped, every object of the bucket deleted, SQLite
files removed) for the next test. An environment whose environment block a test saved again is
not lent again. Tests run one at a time, so a pool rarely holds more than two of a kind.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from testkit.services import (  # noqa: F401
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    empty_bucket,
    fresh_database,
    moto_s3,
    pg_s3_environ,
    postgres_server,
    reset_database,
    with_password,
)


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def events_reach_the_harness(prefect_harness, request) -> Iterator[None]:
    """Every integration test's events go to this session's harness server.

    A process has one Prefect events worker, whose client keeps the API address current when
    it started. Code that emits an event while pointed at another server (an end-to-end
    test's live server, a temporary server) binds it there for every later test of this
    xdist worker: their task runs, which reach the server as events, never appear (seen as
    ``test_faults`` finding no retried task run). Such a worker is dropped, before and after
    each test, naming who left it, and the next event starts one bound to the harness."""
    _unbind_stray_events_worker("a test before this one")
    yield
    _unbind_stray_events_worker(request.node.nodeid)


def _unbind_stray_events_worker(left_by: str) -> None:
    import warnings

    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL

    harness = (PREFECT_API_URL.value() or "").rstrip("/")
    for key, worker in list(EventsWorker._instances.items()):
        bound = (getattr(getattr(worker, "_client", None), "_api_url", None) or "").rstrip("/")
        if isinstance(worker, EventsWorker) and bound and bound != harness:
            warnings.warn(f"{left_by} left the events worker bound to {bound}, not the harness {harness}", stacklevel=1)
            EventsWorker._instances.pop(key, None)


@pytest.fixture(scope="session", autouse=True)
def count_extracted_rows() -> None:
    """``testkit.counting.rows_read()``: the order rows every extract of this process returned."""
    from testkit import counting

    counting.install()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_s3() as endpoint:
        yield endpoint


def s3_client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        region_name="us-east-1",
    )


def _save_environment(env: str, environ: dict[str, str]) -> str:
    from blocks.create import blocks_from_environ, save_environment
    from revenue.io.environment import forget_environments

    save_environment(env, blocks_from_environ(environ))
    forget_environments()
    return env


def _pipeline_saved_at(env: str):
    """When the environment's environment block document was last written."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_block_document_by_name(env, "revenue-environment", include_secrets=False).updated


@dataclass
class Lent:
    """One environment of a pool: its block name, where its data lives, and how to empty it."""

    env: str
    saved_at: object
    empty: Callable[[], None]
    pg_url: str = ""
    bucket: str = ""
    root: Path | None = None


class EnvironmentPool:
    """Environments made once per session and lent to one test at a time (see the module)."""

    def __init__(self, make: Callable[[], Lent]) -> None:
        self._make, self._free = make, []

    @contextmanager
    def lease(self) -> Iterator[Lent]:
        from revenue.io.environment import forget_environments

        lent = self._free.pop() if self._free else self._make()
        forget_environments()
        try:
            yield lent
        finally:
            forget_environments()
            if self._emptied(lent):
                self._free.append(lent)

    @staticmethod
    def _emptied(lent: Lent) -> bool:
        """Empty it for the next test; False if it cannot be (then it is not lent again)."""
        try:
            if _pipeline_saved_at(lent.env) != lent.saved_at:
                return False
            lent.empty()
            return True
        except Exception:
            return False


@pytest.fixture(scope="session")
def pg_pool(postgres_admin_url: str, s3_endpoint: str) -> Iterator[EnvironmentPool]:
    """Postgres (source + warehouse: one database) and S3 (one bucket) environments."""
    with ExitStack() as databases:

        def make() -> Lent:
            url = databases.enter_context(fresh_database(postgres_admin_url))
            bucket = f"lake-{uuid.uuid4().hex[:10]}"
            s3_client(s3_endpoint).create_bucket(Bucket=bucket)
            env = _save_environment(f"pg-{uuid.uuid4().hex[:8]}", pg_s3_environ(url, s3_endpoint, bucket))

            def empty() -> None:
                reset_database(url)
                empty_bucket(s3_endpoint, bucket)

            return Lent(env=env, saved_at=_pipeline_saved_at(env), empty=empty, pg_url=url, bucket=bucket)

        yield EnvironmentPool(make)


def _sqlite_pool(root: Path) -> EnvironmentPool:
    """Embedded-default environments (SQLite files + local directories) under ``root``."""
    from blocks.create import embedded_default_environ

    def make() -> Lent:
        home = root / uuid.uuid4().hex[:8]
        environ = embedded_default_environ(home)

        def empty() -> None:
            shutil.rmtree(home, ignore_errors=True)
            for key in ("REVENUE_LAKE_URL", "REVENUE_RESULTS_URL", "REVENUE_LANDING_URL"):
                Path(environ[key]).mkdir(parents=True, exist_ok=True)

        empty()
        env = _save_environment(f"sqlite-{uuid.uuid4().hex[:8]}", environ)
        return Lent(env=env, saved_at=_pipeline_saved_at(env), empty=empty, root=home)

    return EnvironmentPool(make)


@pytest.fixture(scope="session")
def sqlite_pool(tmp_path_factory: pytest.TempPathFactory) -> EnvironmentPool:
    return _sqlite_pool(tmp_path_factory.mktemp("sqlite-envs"))


@pytest.fixture
def pg_lent(pg_pool: EnvironmentPool) -> Iterator[Lent]:
    with pg_pool.lease() as lent:
        yield lent


@pytest.fixture
def pg_url(pg_lent: Lent) -> str:
    """An empty database (the source and warehouse of ``pg_env``)."""
    return pg_lent.pg_url


@pytest.fixture
def s3_bucket(pg_lent: Lent) -> str:
    """An empty bucket (the lake, results and landing of ``pg_env``)."""
    return pg_lent.bucket


@pytest.fixture
def pg_env(pg_lent: Lent) -> str:
    """A Postgres (source + warehouse: ``pg_url``) and S3 (lake, results, landing:
    ``s3_bucket``) environment, empty."""
    return pg_lent.env


@pytest.fixture
def sqlite_env(sqlite_pool: EnvironmentPool) -> Iterator[str]:
    """An embedded-default environment (SQLite + local directories), empty."""
    with sqlite_pool.lease() as lent:
        yield lent.env


@pytest.fixture
def second_sqlite_env(sqlite_pool: EnvironmentPool) -> Iterator[str]:
    """Another embedded-default environment, for a test that compares two."""
    with sqlite_pool.lease() as lent:
        yield lent.env
