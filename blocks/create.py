"""Create or update every block document of an environment, idempotently.

Connection details come from environment variables (``from_environ``) or, for the
embedded default, from a local directory (``embedded_default``). Passwords and secret
keys are stored as ``SecretStr`` fields of the stock blocks and never printed.

Block document names, for an environment ``NAME``:
``NAME`` (revenue-environment), ``NAME-source`` and ``NAME-warehouse``
(sqlalchemy-connector), ``NAME-aws`` (aws-credentials), ``NAME-lake``, ``NAME-results``
and ``NAME-landing`` (s3-bucket or local-file-system).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast
from urllib.parse import urlparse
from uuid import UUID

from prefect.blocks.core import Block
from prefect.filesystems import LocalFileSystem
from prefect_aws import AwsCredentials
from prefect_aws.client_parameters import AwsClientParameters
from prefect_aws.s3 import S3Bucket
from prefect_sqlalchemy import ConnectionComponents, SqlAlchemyConnector
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from blocks.environment import ObjectStorage, RevenueEnvironment
from revenue import settings
from revenue.errors import ConfigurationError
from revenue.redaction import redact


@dataclass(frozen=True)
class SavedBlock:
    """One block document written by ``save_environment`` (never holds secret values)."""

    slug: str
    name: str


def validate_env_name(env: str) -> str:
    from revenue.env_name import check_env_name

    try:
        return check_env_name(env)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


def database_connector(url: str, variable: str) -> SqlAlchemyConnector:
    """A connector whose password is a secret field, from a SQLAlchemy URL (its driver
    checked now: a typo is told here, not at the first run)."""
    try:
        parsed = make_url(url)
    except Exception as error:
        raise ConfigurationError(
            f"{variable}={redact(url)!r} is not a SQLAlchemy database URL ({redact(str(error))})"
        ) from None
    driver = parsed.drivername
    if driver in ("postgresql", "postgres", "postgresql+psycopg2"):
        driver = "postgresql+psycopg"
    try:
        parsed.set(drivername=driver).get_dialect()
    except Exception as error:
        raise ConfigurationError(
            f"{variable}={redact(url)!r}: no database driver {driver!r} ({redact(str(error))})"
        ) from None
    return SqlAlchemyConnector(
        connection_info=ConnectionComponents(
            driver=driver,
            username=parsed.username,
            password=parsed.password,
            host=parsed.host,
            port=parsed.port,
            database=parsed.database,
            query=dict(parsed.query) or None,
        )
    )


def object_storage(url: str, variable: str, credentials: AwsCredentials | None) -> ObjectStorage:
    """``s3://bucket/prefix`` becomes an S3Bucket; anything else a local directory."""
    parsed = urlparse(url)
    if parsed.username is not None or parsed.password is not None:
        raise ConfigurationError(
            f"{variable}={redact(url)!r}: a storage URL takes no user or password "
            "(S3 credentials go in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigurationError(f"{variable}={url!r} names no bucket")
        if credentials is None:
            raise ConfigurationError(f"{variable} is an S3 URL but no AWS credentials were given")
        return S3Bucket(
            bucket_name=parsed.netloc,
            bucket_folder=parsed.path.strip("/"),
            credentials=credentials,
        )
    if parsed.scheme not in ("", "file"):
        raise ConfigurationError(f"{variable}={redact(url)!r}: expected s3://bucket/prefix or a local path")
    path = Path(parsed.path if parsed.scheme == "file" else url).expanduser().resolve()
    return LocalFileSystem(basepath=str(path))


def aws_credentials(environ: Mapping[str, str]) -> AwsCredentials | None:
    key = environ.get("AWS_ACCESS_KEY_ID")
    secret = environ.get("AWS_SECRET_ACCESS_KEY")
    if not key and not secret:
        return None
    for name, value in (("AWS_ACCESS_KEY_ID", key), ("AWS_SECRET_ACCESS_KEY", secret)):
        if not value:
            raise ConfigurationError(f"missing environment variable {name}")
    endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parsed = urlparse(endpoint)
        name = "AWS_ENDPOINT_URL_S3" if environ.get("AWS_ENDPOINT_URL_S3") else "AWS_ENDPOINT_URL"
        if parsed.username is not None or parsed.password is not None:
            raise ConfigurationError(
                f"{name}={redact(endpoint)!r}: an endpoint takes no user or password "
                "(give AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            )
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigurationError(f"{name}={redact(endpoint)!r}: expected http(s)://host[:port]")
    return AwsCredentials(
        aws_access_key_id=key,
        aws_secret_access_key=SecretStr(secret) if secret else None,
        region_name=environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_client_parameters=AwsClientParameters(endpoint_url=endpoint) if endpoint else AwsClientParameters(),
    )


@dataclass
class EnvironmentBlocks:
    """The unsaved blocks of one environment."""

    source: SqlAlchemyConnector
    warehouse: SqlAlchemyConnector
    lake: ObjectStorage
    results: ObjectStorage
    landing: ObjectStorage | None
    source_table: str = settings.SOURCE_TABLE.default
    warehouse_schema: str = settings.WAREHOUSE_SCHEMA.default
    status_weeks: int = settings.STATUS_WEEKS.default
    alert_deadline: str = settings.ALERT_DEADLINE.default
    landing_queue: str | None = settings.LANDING_QUEUE_URL.default
    heal: bool = settings.HEAL.default
    heal_settle_seconds: int = settings.HEAL_SETTLE_SECONDS.default
    heal_horizon_days: int | None = settings.HEAL_HORIZON_DAYS.default
    alerts: Mapping[str, str] = field(default_factory=dict)
    """The ``REVENUE_ALERT_*`` variables (destinations and thresholds; secrets among them)."""


def blocks_from_environ(environ: Mapping[str, str]) -> EnvironmentBlocks:
    """Build (unsaved) blocks from ``REVENUE_*`` (``revenue.settings``) and ``AWS_*`` variables."""
    values = settings.environment_values(environ)
    credentials = aws_credentials(environ)
    return EnvironmentBlocks(
        source=database_connector(values.source_db_url, settings.SOURCE_DB_URL.name),
        warehouse=database_connector(values.warehouse_db_url, settings.WAREHOUSE_DB_URL.name),
        lake=object_storage(values.lake_url, settings.LAKE_URL.name, credentials),
        results=object_storage(values.results_url, settings.RESULTS_URL.name, credentials),
        landing=object_storage(values.landing_url, settings.LANDING_URL.name, credentials)
        if values.landing_url
        else None,
        source_table=values.source_table,
        warehouse_schema=values.warehouse_schema,
        status_weeks=values.status_weeks,
        alert_deadline=values.alert_deadline,
        landing_queue=values.landing_queue_url,
        heal=values.heal,
        heal_settle_seconds=values.heal_settle_seconds,
        heal_horizon_days=values.heal_horizon_days,
        alerts=values.alerts,
    )


def embedded_default_environ(root: Path) -> dict[str, str]:
    """Variables for the embedded default: SQLite files and local directories under ``root``."""
    root = root.expanduser().resolve()
    return {
        settings.SOURCE_DB_URL.name: f"sqlite:///{root / 'source.db'}",
        settings.WAREHOUSE_DB_URL.name: f"sqlite:///{root / 'warehouse.db'}",
        settings.LAKE_URL.name: str(root / "lake"),
        settings.RESULTS_URL.name: str(root / "results"),
        settings.LANDING_URL.name: str(root / "landing"),
    }


def save_environment(env: str, blocks: EnvironmentBlocks) -> list[SavedBlock]:
    """Save every block of the environment under predictable names (overwrite), then
    the environment block that ties them together."""
    validate_env_name(env)
    saved: list[SavedBlock] = []

    def save(block: Block, name: str) -> str:
        block.save(name, overwrite=True)
        saved.append(SavedBlock(slug=block.get_block_type_slug(), name=name))
        return f"{block.get_block_type_slug()}/{name}"

    credentials = _shared_credentials(blocks)
    if credentials is not None:
        save(credentials, f"{env}-aws")
    save(blocks.source, f"{env}-source")
    save(blocks.warehouse, f"{env}-warehouse")
    pipeline = RevenueEnvironment(
        source=blocks.source,
        warehouse=blocks.warehouse,
        lake=save(blocks.lake, f"{env}-lake"),
        results=save(blocks.results, f"{env}-results"),
        landing=save(blocks.landing, f"{env}-landing") if blocks.landing is not None else None,
        source_table=blocks.source_table,
        warehouse_schema=blocks.warehouse_schema,
        status_weeks=blocks.status_weeks,
        alert_deadline=blocks.alert_deadline,
        landing_queue=blocks.landing_queue,
        heal=blocks.heal,
        heal_settle_seconds=blocks.heal_settle_seconds,
        heal_horizon_days=blocks.heal_horizon_days,
    )
    save(pipeline, env)
    _save_alerts(env, blocks.alerts, blocks.alert_deadline, save)
    return saved


def _save_alerts(env: str, alerts: Mapping[str, str], deadline: str, save: Callable[[Block, str], str]) -> None:
    """The environment's alert destinations and, when it has any, its automations."""
    from blocks.alerts import alert_destinations, sync_automations
    from revenue.deadline import parse_deadline

    silence = settings.ALERT_WATCHER_SILENCE.value(alerts)
    destinations = alert_destinations(env, alerts)
    ids: list[UUID] = []
    for name, block in destinations.items():
        save(block, name)
        ids.append(cast(UUID, block._block_document_id))  # set by save
    if ids:
        sync_automations(env, ids, silence, parse_deadline(deadline))
    else:  # no destination (any more): no automation notifying a block that is gone
        from blocks.alerts import remove_automations

        remove_automations(env)


def _shared_credentials(blocks: EnvironmentBlocks) -> AwsCredentials | None:
    for storage in (blocks.lake, blocks.results, blocks.landing):
        if isinstance(storage, S3Bucket) and isinstance(storage.credentials, AwsCredentials):
            return storage.credentials
    return None
