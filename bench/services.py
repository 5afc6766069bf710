"""The real services a benchmark runs against, started and stopped by the benchmark.

- Postgres: ``--database-url`` / ``BENCH_DATABASE_URL`` (an admin URL of a server you run),
  else ``testkit.services.postgres_server()`` (``TEST_DATABASE_URL`` or a throwaway ``pgserver``).
  The benchmark works in a fresh database of its own on that server and drops it afterwards.
- S3: moto's server over HTTP on loopback (``testkit.services.moto_s3``), one bucket for the
  lake, the task results and the landing zone.
- Prefect API: ``prefect_test_harness`` (a temporary SQLite-backed server in a subprocess);
  its URL is exported as ``PREFECT_API_URL`` so every scenario process uses it.
- Blocks: one environment (``bench``) saved with ``blocks.create``, exactly as
  ``revenue blocks create`` would from ``REVENUE_*`` / ``AWS_*`` variables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.plan import Log

if TYPE_CHECKING:
    import argparse

    from mypy_boto3_s3 import S3Client

ENVIRONMENT = "bench"


@dataclass(frozen=True)
class Services:
    pg_url: str
    postgres: str
    """Which Postgres: ``given``, ``TEST_DATABASE_URL`` or ``pgserver (throwaway)``."""
    s3_endpoint: str
    bucket: str
    api_url: str
    config: str
    api_server_pid: int | None = None
    database: str = ""
    """The name of the benchmark's own database on the server (dropped when the services stop)."""

    def child_context(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "api_url": self.api_url,
            "pg_url": self.pg_url,
            "api_server_pid": self.api_server_pid,
            "s3_endpoint": self.s3_endpoint,
            "bucket": self.bucket,
        }


QUIET_PREFECT = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_UI_ENABLED": "false",
}
"""Set (unless already set) before anything imports prefect, and inherited by scenario processes."""


def quiet_prefect() -> None:
    """No telemetry, no UI, warnings only: what every benchmark process runs with."""
    for name, value in QUIET_PREFECT.items():
        os.environ.setdefault(name, value)


def add_standalone_options(parser: argparse.ArgumentParser) -> None:
    """The options every standalone benchmark module takes: ``--seed``, ``--database-url``
    and ``--json``."""
    from pathlib import Path

    parser.add_argument("--seed", type=int, default=7, help="demo data seed (default 7)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help="admin URL of a Postgres server (default: $BENCH_DATABASE_URL, else $TEST_DATABASE_URL, else pgserver)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")


def print_and_save(lines: list[str], results: dict[str, Any], path: Path | None = None) -> None:
    """A standalone scenario's end: its report lines on stdout and, with ``--json``, every
    figure in ``path``."""
    import json

    print("\n".join(lines))
    if path:
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")


def _psycopg_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


@contextmanager
def services(database_url: str | None, log: Log = print) -> Iterator[Services]:
    from sqlalchemy.engine import make_url

    from testkit.services import S3_ACCESS_KEY, S3_SECRET_KEY, fresh_database, moto_s3, pg_s3_environ, postgres_server

    with ExitStack() as stack:
        if database_url:
            admin_url, which = _psycopg_url(database_url), "given (--database-url)"
        else:
            which = "TEST_DATABASE_URL" if os.environ.get("TEST_DATABASE_URL") else "pgserver (throwaway)"
            admin_url = stack.enter_context(postgres_server())
        log(f"postgres: {which}")
        database = stack.enter_context(fresh_database(admin_url))
        # fresh_database renders the URL with the password hidden: put it back.
        pg_url = make_url(database).set(password=make_url(admin_url).password).render_as_string(hide_password=False)

        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        endpoint = stack.enter_context(moto_s3())
        bucket = f"bench-{uuid.uuid4().hex[:10]}"
        s3_client(endpoint, S3_ACCESS_KEY, S3_SECRET_KEY).create_bucket(Bucket=bucket)
        log(f"s3: moto server at {endpoint}, bucket {bucket}")

        from prefect.settings import PREFECT_API_URL
        from prefect.testing.utilities import prefect_test_harness

        stack.enter_context(prefect_test_harness(server_startup_timeout=180))
        api_url = PREFECT_API_URL.value()
        os.environ["PREFECT_API_URL"] = api_url
        from bench.child import find_child_process

        api_server_pid = find_child_process("uvicorn")
        log(f"prefect: test harness API at {api_url} (server pid {api_server_pid})")

        from blocks.create import blocks_from_environ, save_environment
        from revenue.io.environment import forget_environments

        environ = pg_s3_environ(pg_url, endpoint, bucket)
        save_environment(ENVIRONMENT, blocks_from_environ(environ))
        forget_environments()
        stack.callback(forget_environments)
        yield Services(
            pg_url=pg_url,
            postgres=which,
            s3_endpoint=endpoint,
            bucket=bucket,
            api_url=api_url,
            config=ENVIRONMENT,
            api_server_pid=api_server_pid,
            database=make_url(pg_url).database or "",
        )


def s3_client(endpoint: str, key: str, secret: str) -> S3Client:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )
