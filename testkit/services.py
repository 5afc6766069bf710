"""Real services for integration tests: a Postgres server and an S3 API (moto over HTTP).

``TEST_DATABASE_URL`` points at an existing Postgres; without it a throwaway server is
started with ``pgserver`` (binaries shipped in the wheel), so a fresh machine needs
nothing installed. A database (``fresh_database``) is emptied for reuse by ``reset_database``,
a bucket by ``empty_bucket``: the integration tests lend them from one test to the next.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, AnyStr, Literal, TextIO, overload

import sqlalchemy as sa
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """A SQLAlchemy URL (psycopg 3 driver) of a Postgres server's admin database."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield make_url(given).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="revenue-pg-") as data_dir:
        server = pgserver.get_server(data_dir, cleanup_mode="stop")
        try:
            yield make_url(server.get_uri()).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        finally:
            server.cleanup()


@contextmanager
def postgres_server_for_prefect() -> Iterator[str]:
    """A SQLAlchemy URL (psycopg 3) of a Postgres admin database a Prefect server can run on.

    Prefect's schema needs the ``pg_trgm`` extension, which ``pgserver``'s build lacks, so this
    is ``TEST_PREFECT_DATABASE_URL`` if given, else a throwaway cluster started from the
    distribution's PostgreSQL binaries (Debian's ``postgresql`` package, which ``make test``
    installs; its contrib has ``pg_trgm``) on a free loopback port, with trust auth.
    """
    given = os.environ.get("TEST_PREFECT_DATABASE_URL")
    if given:
        yield make_url(given).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return
    import glob
    import signal
    import time

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    bindir = next(
        (
            Path(c).parent
            for c in reversed(candidates)
            if glob.glob(f"/usr/share/postgresql/{Path(c).parts[-3]}/extension/pg_trgm.control")
        ),
        None,
    )
    if bindir is None:
        raise RuntimeError(
            "a Prefect server on Postgres needs a PostgreSQL with pg_trgm: install Debian's "
            "postgresql package (make test does) or set TEST_PREFECT_DATABASE_URL"
        )
    user: int | None = None
    group: int | None = None
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the package's postgres user
        import pwd

        entry = pwd.getpwnam("postgres")
        user, group = entry.pw_uid, entry.pw_gid
    with tempfile.TemporaryDirectory(prefix="revenue-prefect-pg-") as home:
        if user is not None and group is not None:
            os.chown(home, user, group)
        data, port = Path(home) / "data", free_port()
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            user=user,
            group=group,
        )
        log = open(Path(home) / "postgres.log", "w")
        server = subprocess.Popen(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
                "-k",
                home,
                "-F",
                "-c",
                "max_connections=200",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=user,
            group=group,
        )
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    engine = sa.create_engine(url)
                    with engine.connect():
                        break
                except sa.exc.OperationalError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError(
                            f"PostgreSQL from {bindir} did not start: {Path(home) / 'postgres.log'}"
                        ) from None
                    time.sleep(0.2)
                finally:
                    engine.dispose()
            yield url
        finally:
            # fast shutdown (SIGINT): ends every session; SIGTERM's smart shutdown would wait
            # for a test's stray session until the kill below
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
            )
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def reset_database(url: str) -> None:
    """Back to an empty database, as ``fresh_database`` made it, without a new CREATE DATABASE:
    other sessions of it are ended (their advisory locks with them), every schema but the
    system ones is dropped, and an empty ``public`` is created."""
    name = make_url(url).database
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            schemas = connection.execute(
                sa.text(
                    "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') "
                    "AND nspname NOT LIKE 'pg\\_%'"
                )
            ).scalars()
            for schema in list(schemas):
                quoted = schema.replace('"', '""')
                connection.execute(sa.text(f'DROP SCHEMA "{quoted}" CASCADE'))
            connection.execute(sa.text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def empty_bucket(endpoint: str, bucket: str) -> None:
    """Delete every object of the bucket and its notification configuration."""
    s3 = aws_client("s3", endpoint)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys: list[ObjectIdentifierTypeDef] = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})


@contextmanager
def moto_s3() -> Iterator[str]:
    """An S3 API on loopback (moto's server, real HTTP); yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


S3_ACCESS_KEY = "AKIATESTREVENUE0KEY1"
S3_SECRET_KEY = "s3cr3t-Rev3nue-Key/NeverPrint+0123456789"
DB_PASSWORD = "pg-Pa55word-NeverLog-7f3a"


class PrefectServer:
    """A real ``prefect server start`` on a loopback port (its event, automation and
    notification services included), its log ``<home>/server.log``: stopped and started
    again on the same port (``stop``, ``start``), as an operator restarts it."""

    def __init__(self, home: str | Path, environ: dict[str, str]) -> None:
        self.home, self.port = Path(home), free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.env = {
            **environ,
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log: TextIO | None = None

    def start(self, timeout: float = 120) -> str:
        """Start the server and return its API URL once ``/health`` answers."""
        import sys
        import time
        import urllib.request

        self.log = open(self.home / "server.log", "a")
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if urllib.request.urlopen(f"{self.api}/health", timeout=2).status == 200:
                    return self.api
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"prefect server did not start: see {self.home}/server.log")
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL 30 s later)."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None


@contextmanager
def running_prefect_server(home: str | Path, environ: dict[str, str]) -> Iterator[PrefectServer]:
    """A started ``PrefectServer``, stopped afterwards."""
    server = PrefectServer(home, environ)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextmanager
def live_prefect_server(home: str | Path, environ: dict[str, str]) -> Iterator[str]:
    """A real ``prefect server start`` on a free loopback port (its event, automation and
    notification services included), its database and log under ``home``; yields the API URL."""
    with running_prefect_server(home, environ) as server:
        yield server.api


def with_password(url: str) -> str:
    """The URL with a password (kept if it has one): servers with trust auth ignore it,
    but the pipeline must still treat it as a secret."""
    parsed = make_url(url)
    return url if parsed.password else parsed.set(password=DB_PASSWORD).render_as_string(hide_password=False)


def pg_s3_environ(pg_url: str, endpoint: str, bucket: str) -> dict[str, str]:
    """``revenue blocks create`` variables for Postgres (source + warehouse) and an S3
    bucket (lake, results, landing) on an S3-compatible endpoint."""
    return {
        "REVENUE_SOURCE_DB_URL": with_password(pg_url),
        "REVENUE_WAREHOUSE_DB_URL": with_password(pg_url),
        "REVENUE_LAKE_URL": f"s3://{bucket}/lake",
        "REVENUE_LANDING_URL": f"s3://{bucket}/landing",
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": endpoint,
    }


@overload
def aws_client(service: Literal["s3"], endpoint: str) -> S3Client: ...


@overload
def aws_client(service: str, endpoint: str) -> Any: ...


def aws_client(service: str, endpoint: str) -> Any:
    """A boto3 client of moto's server with the test credentials (typed for S3, the one
    service whose stubs the project installs)."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        region_name="us-east-1",
    )


def notify_to_new_queue(endpoint: str, bucket: str, prefix: str = "landing/") -> str:
    """A new SQS queue receiving the bucket's ``s3:ObjectCreated`` notifications under
    ``prefix`` (moto's server delivers them); returns its URL."""
    import uuid

    sqs = aws_client("sqs", endpoint)
    queue_url = sqs.create_queue(QueueName=f"landing-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws_client("s3", endpoint).put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
            ]
        },
    )
    return queue_url


@contextmanager
def process_workers(
    pool: str, names: tuple[str, ...], environ: dict[str, str], cwd: str | Path, logs: str | Path, limit: int
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """A ``prefect worker start --pool pool`` per name (at most ``limit`` runs each, its log
    ``<logs>/<name>.log``), stopped afterwards."""
    import sys

    prefect = str(Path(sys.executable).parent / "prefect")
    workers = [
        subprocess.Popen(
            [prefect, "worker", "start", "--pool", pool, "--name", name, "--limit", str(limit)],
            cwd=cwd,
            env=environ,
            stdout=open(Path(logs) / f"{name}.log", "w"),
            stderr=subprocess.STDOUT,
        )
        for name in names
    ]
    try:
        yield workers
    finally:
        stop_all(workers, grace=30)


def ctrl_c(process: subprocess.Popen[AnyStr], timeout: float = 120) -> None:
    """Stop a command started in its own process group as Ctrl-C in its terminal would
    (SIGINT to the group) and wait for it; killed, and ``TimeoutExpired`` raised, if it
    hangs."""
    import os
    import signal

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def stop_all(processes: Sequence[subprocess.Popen[str] | subprocess.Popen[bytes]], grace: float) -> None:
    """SIGTERM every process, then SIGKILL those still running ``grace`` seconds later (one
    deadline for all of them, not ``grace`` each)."""
    import time

    for process in processes:
        process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class CuttingProxy:
    """A TCP proxy on loopback to a server, that goes down the moment a client sends
    ``trigger`` (say ``b"DELETE FROM"``, the first write of a publish): it cuts every
    connection and refuses new ones, like a database lost in the middle of a transaction."""

    def __init__(self, database_url: str, trigger: bytes) -> None:
        import threading

        self.target, self.trigger = _postgres_address(database_url), trigger
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.cut = threading.Event()
        self.sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> "CuttingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.go_down()

    def _accept(self) -> None:
        import threading

        while not self.cut.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = _connect(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, watch: bool) -> None:
        tail = b""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if watch and self.trigger in tail + data:
                    self.go_down()
                    return
                tail = data[-len(self.trigger) :]
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.close()
                except OSError:
                    pass

    def go_down(self) -> None:
        self.cut.set()
        try:
            self.listener.close()
        except OSError:
            pass
        with self._lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                except OSError:
                    pass


def _postgres_address(url: str) -> str | tuple[str, int]:
    """Where a Postgres URL's server listens: a Unix socket path (pgserver's) or (host, port)."""
    parsed = make_url(url)
    socket_dir = parsed.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        return f"{socket_dir}/.s.PGSQL.{parsed.port or 5432}"
    return (parsed.host or "127.0.0.1", parsed.port or 5432)


def _connect(address: str | tuple[str, int]) -> socket.socket:
    if isinstance(address, str):
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.connect(address)
        return unix
    return socket.create_connection(address)
