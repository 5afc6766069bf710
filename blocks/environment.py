"""The environment block: one document per environment ties every connection together.

A flow takes a single ``env`` parameter, the name of a ``RevenueEnvironment`` block
document, and never branches on the environment: the embedded default (SQLite + local
directory), a developer's Postgres + S3-compatible store and production differ only in
the blocks nested here.
"""

from __future__ import annotations

from typing import Optional, Union

from prefect.blocks.core import Block
from prefect.filesystems import LocalFileSystem
from prefect_aws.s3 import S3Bucket
from prefect_sqlalchemy import SqlAlchemyConnector
from pydantic import Field

from revenue import settings

ObjectStorage = Union[S3Bucket, LocalFileSystem]
"""Storage blocks are referenced as ``slug/name`` (e.g. ``s3-bucket/prod-lake``), not
nested: Prefect 3.9's server fails to re-save a block schema with a Union-of-blocks
field (``read_block_schema_by_checksum``: list indices must be integers)."""


def load_storage(reference: str) -> ObjectStorage:
    """Load an S3Bucket or LocalFileSystem block from its ``slug/name`` reference."""
    block = Block.load(reference)
    if not isinstance(block, (S3Bucket, LocalFileSystem)):
        raise TypeError(f"block {reference!r} is a {type(block).__name__}, not S3Bucket or LocalFileSystem")
    return block


class RevenueEnvironment(Block):
    """Connections and table names of one environment of the revenue pipeline."""

    _block_type_name = "Revenue Environment"
    _block_type_slug = "revenue-environment"
    _description = (
        "Source and warehouse databases, lake, result storage and landing zone of one "
        "environment of the daily revenue pipeline."
    )

    source: SqlAlchemyConnector = Field(description="Database holding the orders table.")
    warehouse: SqlAlchemyConnector = Field(description="Database the aggregates are published to.")
    lake: str = Field(description="Block (slug/name) where Parquet files of each partition are written.")
    results: str = Field(
        description="Block (slug/name) where Prefect persists task results, so cache hits work from any machine."
    )
    landing: Optional[str] = Field(
        default=None, description="Block (slug/name) where order files land (an S3 prefix watched for new files)."
    )
    source_table: str = Field(default=settings.SOURCE_TABLE.default, description="Orders table name.")
    source_schema: Optional[str] = Field(default=None, description="Schema of the orders table.")
    warehouse_schema: str = Field(
        default=settings.WAREHOUSE_SCHEMA.default, description="Schema of the published tables (ignored by SQLite)."
    )
    status_weeks: int = Field(
        default=settings.STATUS_WEEKS.default,
        ge=settings.bounds(settings.STATUS_WEEKS)[0],
        le=settings.bounds(settings.STATUS_WEEKS)[1],
        description="Weeks the partition-status grid shows, up to yesterday (UTC); days a run touched "
        "and failed days are shown too.",
    )
    alert_deadline: str = Field(
        default=settings.ALERT_DEADLINE.default,
        description="UTC time (HH:MM or HH:MM:SS) by which yesterday's partition must be published; "
        "later, the late-day alert fires.",
    )
    landing_queue: Optional[str] = Field(
        default=None,
        description="SQS queue URL receiving the landing bucket's s3:ObjectCreated notifications: the "
        "watcher reads it instead of listing the landing prefix.",
    )
    heal: bool = Field(
        default=settings.HEAL.default,
        description="The landing watcher recomputes stale days by itself (late or corrected orders, missed "
        "cron days); the variable revenue_heal_<environment> (true/false) overrides it.",
    )
    heal_settle_seconds: int = Field(
        default=settings.HEAL_SETTLE_SECONDS.default,
        ge=settings.bounds(settings.HEAL_SETTLE_SECONDS)[0],
        le=settings.bounds(settings.HEAL_SETTLE_SECONDS)[1],
        description="Seconds a day's input must stay unchanged before the watcher heals it (a load in "
        "progress is not chased row by row).",
    )
    heal_horizon_days: Optional[int] = Field(
        default=settings.HEAL_HORIZON_DAYS.default,
        ge=settings.bounds(settings.HEAL_HORIZON_DAYS)[0],
        le=settings.bounds(settings.HEAL_HORIZON_DAYS)[1],
        description="Days up to yesterday the watcher heals; older stale days are shown, not healed. "
        "Default: the grid's window (status_weeks).",
    )
