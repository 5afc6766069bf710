"""Create or update every block document of an environment, idempotently.

Connection details come from environment variables (``from_environ``) or, for the
embedded default, from a local directory (``embedded_default``). Passwords and secret
keys are stored as ``SecretStr`` fields of the stock blocks and never printed.

Block document names, for an environment ``NAME``:
``NAME`` (revenue-pipeline), ``NAME-source`` and ``NAME-warehouse``
(sqlalchemy-connector), ``NAME-aws`` (aws-credentials), ``NAME-lake``, ``NAME-results``
and ``NAME-landing`` (s3-bucket or local-file-system).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from prefect.blocks.core import Block
from prefect.filesystems import LocalFileSystem
from prefect_aws import AwsCredentials
from prefect_aws.client_parameters import AwsClientParameters
from prefect_aws.s3 import S3Bucket
from prefect_sqlalchemy import ConnectionComponents, SqlAlchemyConnector
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from blocks.pipeline import ObjectStorage, RevenuePipeline
from revenue.redaction import redact

RESULTS_SUFFIX = "_prefect_results"

REQUIRED_VARIABLES = (
    "REVENUE_SOURCE_DB_URL",
    "REVENUE_WAREHOUSE_DB_URL",
    "REVENUE_LAKE_URL",
)
OPTIONAL_VARIABLES = (
    "REVENUE_LANDING_URL",
    "REVENUE_RESULTS_URL",
    "REVENUE_WAREHOUSE_SCHEMA",
    "REVENUE_SOURCE_TABLE",
    "REVENUE_STATUS_WEEKS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_S3",
    "REVENUE_ALERT_WEBHOOK_URL",
    "REVENUE_ALERT_SLACK_WEBHOOK_URL",
    "REVENUE_ALERT_PAGERDUTY_INTEGRATION_KEY",
    "REVENUE_ALERT_PAGERDUTY_API_KEY",
    "REVENUE_ALERT_WATCHER_SILENCE",
    "REVENUE_ALERT_DEADLINE",
    "REVENUE_LANDING_QUEUE_URL",
    "REVENUE_HEAL",
    "REVENUE_HEAL_SETTLE_SECONDS",
    "REVENUE_HEAL_HORIZON_DAYS",
)
ALERT_PREFIX = "REVENUE_ALERT_"


class EnvironmentError_(ValueError):
    """Configuration for an environment is missing or malformed."""


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
        raise EnvironmentError_(str(error)) from None


def database_connector(url: str, variable: str) -> SqlAlchemyConnector:
    """A connector whose password is a secret field, from a SQLAlchemy URL (its driver
    checked now: a typo is told here, not at the first run)."""
    try:
        parsed = make_url(url)
    except Exception as error:
        raise EnvironmentError_(
            f"{variable}={redact(url)!r} is not a SQLAlchemy database URL ({redact(str(error))})"
        ) from None
    driver = parsed.drivername
    if driver in ("postgresql", "postgres", "postgresql+psycopg2"):
        driver = "postgresql+psycopg"
    try:
        parsed.set(drivername=driver).get_dialect()
    except Exception as error:
        raise EnvironmentError_(
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
        raise EnvironmentError_(
            f"{variable}={redact(url)!r}: a storage URL takes no user or password "
            "(S3 credentials go in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise EnvironmentError_(f"{variable}={url!r} names no bucket")
        if credentials is None:
            raise EnvironmentError_(f"{variable} is an S3 URL but no AWS credentials were given")
        return S3Bucket(
            bucket_name=parsed.netloc,
            bucket_folder=parsed.path.strip("/"),
            credentials=credentials,
        )
    if parsed.scheme not in ("", "file"):
        raise EnvironmentError_(f"{variable}={redact(url)!r}: expected s3://bucket/prefix or a local path")
    path = Path(parsed.path if parsed.scheme == "file" else url).expanduser().resolve()
    return LocalFileSystem(basepath=str(path))


def aws_credentials(environ: Mapping[str, str]) -> AwsCredentials | None:
    key = environ.get("AWS_ACCESS_KEY_ID")
    secret = environ.get("AWS_SECRET_ACCESS_KEY")
    if not key and not secret:
        return None
    for name, value in (("AWS_ACCESS_KEY_ID", key), ("AWS_SECRET_ACCESS_KEY", secret)):
        if not value:
            raise EnvironmentError_(f"missing environment variable {name}")
    endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parsed = urlparse(endpoint)
        name = "AWS_ENDPOINT_URL_S3" if environ.get("AWS_ENDPOINT_URL_S3") else "AWS_ENDPOINT_URL"
        if parsed.username is not None or parsed.password is not None:
            raise EnvironmentError_(
                f"{name}={redact(endpoint)!r}: an endpoint takes no user or password "
                "(give AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            )
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise EnvironmentError_(f"{name}={redact(endpoint)!r}: expected http(s)://host[:port]")
    return AwsCredentials(
        aws_access_key_id=key,
        aws_secret_access_key=SecretStr(secret) if secret else None,
        region_name=environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_client_parameters=AwsClientParameters(endpoint_url=endpoint) if endpoint else AwsClientParameters(),
    )


def _results_url(lake_url: str) -> str:
    return lake_url.rstrip("/") + "/" + RESULTS_SUFFIX


@dataclass
class EnvironmentBlocks:
    """The unsaved blocks of one environment."""

    source: SqlAlchemyConnector
    warehouse: SqlAlchemyConnector
    lake: ObjectStorage
    results: ObjectStorage
    landing: ObjectStorage | None
    source_table: str = "orders"
    warehouse_schema: str = "analytics"
    status_weeks: int = 8
    alert_deadline: str = "07:30"
    landing_queue: str | None = None
    heal: bool = False
    heal_settle_seconds: int = 60
    heal_horizon_days: int | None = None
    alerts: Mapping[str, str] = field(default_factory=dict)
    """The ``REVENUE_ALERT_*`` variables (destinations and thresholds; secrets among them)."""


def pipeline_from_environ(environ: Mapping[str, str]) -> EnvironmentBlocks:
    """Build (unsaved) blocks from ``REVENUE_*`` and ``AWS_*`` variables."""
    missing = [name for name in REQUIRED_VARIABLES if not environ.get(name)]
    if missing:
        raise EnvironmentError_(f"missing environment variable(s): {', '.join(missing)}")
    credentials = aws_credentials(environ)
    lake_url = environ["REVENUE_LAKE_URL"]
    landing_url = environ.get("REVENUE_LANDING_URL")
    return EnvironmentBlocks(
        source=database_connector(environ["REVENUE_SOURCE_DB_URL"], "REVENUE_SOURCE_DB_URL"),
        warehouse=database_connector(environ["REVENUE_WAREHOUSE_DB_URL"], "REVENUE_WAREHOUSE_DB_URL"),
        lake=object_storage(lake_url, "REVENUE_LAKE_URL", credentials),
        results=object_storage(
            environ.get("REVENUE_RESULTS_URL") or _results_url(lake_url), "REVENUE_RESULTS_URL", credentials
        ),
        landing=object_storage(landing_url, "REVENUE_LANDING_URL", credentials) if landing_url else None,
        source_table=environ.get("REVENUE_SOURCE_TABLE") or "orders",
        warehouse_schema=environ.get("REVENUE_WAREHOUSE_SCHEMA") or "analytics",
        status_weeks=_status_weeks(environ.get("REVENUE_STATUS_WEEKS")),
        alert_deadline=_alert_deadline(environ.get("REVENUE_ALERT_DEADLINE")),
        landing_queue=environ.get("REVENUE_LANDING_QUEUE_URL") or None,
        heal=_switch(environ.get("REVENUE_HEAL"), "REVENUE_HEAL"),
        heal_settle_seconds=_or_default(_whole(environ, "REVENUE_HEAL_SETTLE_SECONDS", 0, 86400), 60),
        heal_horizon_days=_whole(environ, "REVENUE_HEAL_HORIZON_DAYS", 1, 3660),
        alerts={k: v for k, v in environ.items() if k.startswith(ALERT_PREFIX) and v},
    )


def _alert_deadline(value: str | None) -> str:
    from revenue.deadline import parse_deadline

    if not value:
        return "07:30"
    try:
        if parse_deadline(value) < dt.timedelta(seconds=10):
            raise ValueError("must be at least 00:00:10 (Prefect's shortest proactive window)")
    except ValueError as error:
        raise EnvironmentError_(f"REVENUE_ALERT_DEADLINE: {error}") from None
    return value.strip()


def _switch(value: str | None, name: str) -> bool:
    from revenue.switch import switch_value

    if not (value or "").strip():
        return False
    switch = switch_value(value)
    if switch is None:
        raise EnvironmentError_(f"{name} must be true or false, not {value!r}")
    return switch


def _whole(environ: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    value = environ.get(name)
    if not value:
        return None
    if not value.strip().isdigit() or not low <= int(value) <= high:
        raise EnvironmentError_(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    return int(value)


def _or_default(value: int | None, default: int) -> int:
    """``value`` when it was given (0 included), else ``default``."""
    return default if value is None else value


def _status_weeks(value: str | None) -> int:
    if not value:
        return 8
    if not value.isdigit() or not 1 <= int(value) <= 520:
        raise EnvironmentError_(f"REVENUE_STATUS_WEEKS must be a number of weeks from 1 to 520, not {value!r}")
    return int(value)


def embedded_default_environ(root: Path) -> dict[str, str]:
    """Variables for the embedded default: SQLite files and local directories under ``root``."""
    root = root.expanduser().resolve()
    return {
        "REVENUE_SOURCE_DB_URL": f"sqlite:///{root / 'source.db'}",
        "REVENUE_WAREHOUSE_DB_URL": f"sqlite:///{root / 'warehouse.db'}",
        "REVENUE_LAKE_URL": str(root / "lake"),
        "REVENUE_RESULTS_URL": str(root / "results"),
        "REVENUE_LANDING_URL": str(root / "landing"),
    }


def save_environment(env: str, blocks: EnvironmentBlocks) -> list[SavedBlock]:
    """Save every block of the environment under predictable names (overwrite), then
    the pipeline block that ties them together."""
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
    pipeline = RevenuePipeline(
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


def _save_alerts(env: str, settings: Mapping[str, str], deadline: str, save) -> None:
    """The environment's alert destinations and, when it has any, its automations."""
    from blocks.alerts import alert_destinations, sync_automations, watcher_silence
    from revenue.deadline import parse_deadline

    silence = watcher_silence(settings)
    destinations = alert_destinations(env, settings)
    ids = []
    for name, block in destinations.items():
        save(block, name)
        ids.append(block._block_document_id)
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
