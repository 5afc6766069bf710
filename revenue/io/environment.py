"""An environment at run time: the readers and writers built from its environment block.

Flows and tasks pass the block *name* (a plain string) around and call
``environment(name)``, which loads the block once per process and shares the
SQLAlchemy engines between concurrent tasks.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, cast

import sqlalchemy as sa

from revenue import settings
from revenue.errors import ConfigurationError
from revenue.io.asset_keys import asset_key
from revenue.io.source import OrdersSource
from revenue.io.storage import LocalStore, ObjectStore, object_store
from revenue.io.warehouse.database import Warehouse

if TYPE_CHECKING:  # Prefect's block classes are imported only by what loads or builds blocks
    from prefect.filesystems import LocalFileSystem
    from prefect_aws.s3 import S3Bucket
    from prefect_sqlalchemy import SqlAlchemyConnector

    from blocks.environment import ObjectStorage, RevenueEnvironment
    from revenue.io.landing.queue import LandingQueue
    from revenue.io.landing.registry import LandingRegistry


@dataclass(frozen=True)
class EmbeddedEnvironment:
    """An embedded-default environment as its manifest records it: SQLite URLs and local
    directories, the fields of ``RevenueEnvironment`` the commands read, without Prefect."""

    source: str
    warehouse: str
    lake: str
    results: str
    landing: str | None
    source_table: str = settings.SOURCE_TABLE.default
    source_schema: str | None = None
    warehouse_schema: str | None = settings.WAREHOUSE_SCHEMA.default
    status_weeks: int = settings.STATUS_WEEKS.default
    alert_deadline: str = settings.ALERT_DEADLINE.default
    heal: bool = settings.HEAL.default
    heal_settle_seconds: int = settings.HEAL_SETTLE_SECONDS.default
    heal_horizon_days: int | None = settings.HEAL_HORIZON_DAYS.default

    @classmethod
    def from_manifest(cls, environ: dict[str, str]) -> EmbeddedEnvironment:
        values = settings.environment_values(environ)
        return cls(
            source=values.source_db_url,
            warehouse=values.warehouse_db_url,
            lake=values.lake_url,
            results=values.results_url,
            landing=values.landing_url,
            source_table=values.source_table,
            warehouse_schema=values.warehouse_schema,
            status_weeks=values.status_weeks,
            alert_deadline=values.alert_deadline,
            heal=values.heal,
            heal_settle_seconds=values.heal_settle_seconds,
            heal_horizon_days=values.heal_horizon_days,
        )


@dataclass
class Environment:
    """Connections of one environment, built lazily from its ``RevenueEnvironment`` block (or,
    for an embedded default read from its manifest, from an ``EmbeddedEnvironment``)."""

    name: str
    block: RevenueEnvironment | EmbeddedEnvironment

    @property
    def embedded(self) -> bool:
        return isinstance(self.block, EmbeddedEnvironment)

    def _storage(self, field_name: str) -> ObjectStorage | None:
        reference = getattr(self.block, field_name)
        if not reference:
            return None
        if self.embedded:
            from prefect.filesystems import LocalFileSystem

            return LocalFileSystem(basepath=reference)
        from blocks.environment import load_storage

        return load_storage(reference)

    def _required_storage(self, field_name: str) -> ObjectStorage:
        """``lake`` or ``results``: the block type requires them, a manifest always has them."""
        block = self._storage(field_name)
        if block is None:
            raise ConfigurationError(f"environment {self.name} has no {field_name}")
        return block

    def store(self, field_name: str) -> ObjectStore | None:
        """The store of ``lake``, ``results`` or ``landing`` (None: the environment has none)."""
        if self.embedded:  # no block needed: a directory
            reference = getattr(self.block, field_name)
            return LocalStore(reference) if reference else None
        block = self._storage(field_name)
        return object_store(block) if block is not None else None

    @cached_property
    def source(self) -> OrdersSource:
        return OrdersSource(
            _engine(self.block.source),
            table=self.block.source_table,
            schema=self.block.source_schema,
        )

    @cached_property
    def warehouse(self) -> Warehouse:
        return Warehouse(_engine(self.block.warehouse), self.block.warehouse_schema)

    @cached_property
    def lake_block(self) -> ObjectStorage:
        return self._required_storage("lake")

    @cached_property
    def lake(self) -> ObjectStore:
        store = self.store("lake")
        if store is None:  # the block type requires one; a manifest always has one
            raise ConfigurationError(f"environment {self.name} has no lake")
        return store

    @cached_property
    def landing_block(self) -> ObjectStorage | None:
        return self._storage("landing")

    @cached_property
    def landing(self) -> ObjectStore | None:
        return self.store("landing")

    @cached_property
    def landing_queue(self) -> LandingQueue | None:
        """The landing bucket's notification queue (``revenue.io.landing.queue``), if any."""
        url = getattr(self.block, "landing_queue", None)
        if not url or self.landing is None:
            return None
        from revenue.io.landing.queue import LandingQueue

        return LandingQueue(url, self.landing)

    @cached_property
    def registry(self) -> "LandingRegistry":
        from revenue.io.landing.registry import LandingRegistry

        return LandingRegistry(self.warehouse, self.landing)

    @cached_property
    def result_storage(self) -> ObjectStorage:
        """The saved block that holds task results, loaded once: given as a ``slug/name``
        string instead, Prefect would read the block document for every task run."""
        return self._required_storage("results")

    def asset_keys(self, dataset: str) -> list[str]:
        """Prefect asset keys of a dataset, from where the catalog stores it: the source
        table, its warehouse table, its lake folder."""
        from revenue.catalog import dataset as declared

        stored = declared(dataset)
        keys = []
        if stored.in_source:
            keys.append(_database_asset(self.source.engine.url, self.source.schema, self.source.table))
        if stored.table is not None:
            keys.append(_database_asset(self.warehouse.engine.url, self.warehouse.schema, stored.table))
        if stored.lake_path is not None:
            keys.append(_storage_asset(self.lake_block, stored.lake_path))
        return keys


def _database_asset(url: sa.engine.URL, schema: str | None, table: str) -> str:
    """``postgres://host:port/db/schema/table`` or ``sqlite://path/table``."""
    if url.get_backend_name() == "sqlite":
        return asset_key(f"sqlite://{(url.database or '').lstrip('/')}/{table}")
    host = f"{url.host or 'localhost'}:{url.port or 5432}"
    return asset_key(f"postgres://{host}/{url.database or ''}/{schema or 'public'}/{table}")


def _engine(connector: str | SqlAlchemyConnector) -> sa.engine.Engine:
    """The engine of a ``SqlAlchemyConnector`` block, or of a URL (an embedded default)."""
    return sa.create_engine(connector) if isinstance(connector, str) else _quiet_engine(connector)


def _quiet_engine(connector: SqlAlchemyConnector) -> sa.engine.Engine:
    """The connector's engine. prefect-sqlalchemy logs "Created a new engine." for each one
    (twice per command and per run, in the run's own log inside a run): our own lines say
    what is connected, so ``_DropEngineCreated`` keeps that line out of every log."""
    return connector.get_engine()


class _DropEngineCreated(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Created a new engine."


for _logger in ("prefect.SqlAlchemyConnector", "prefect.task_runs", "prefect.flow_runs"):
    logging.getLogger(_logger).addFilter(_DropEngineCreated())


def _storage_asset(block: S3Bucket | LocalFileSystem, lake_path: str) -> str:
    from prefect_aws.s3 import S3Bucket

    if isinstance(block, S3Bucket):
        folder = block.bucket_folder.strip("/")
        return asset_key(f"s3://{block.bucket_name}/{folder + '/' if folder else ''}{lake_path}")
    return asset_key(f"file://{(block.basepath or '').rstrip('/')}/{lake_path}")


def local_environment(name: str, home: Path) -> Environment | None:
    """An embedded-default environment read from its manifest under ``home`` (written by
    ``revenue blocks create --local``, ``revenue demo`` and ``revenue dev``): neither the
    Prefect API nor Prefect itself is needed, so a read-only command answers at once.
    None if it has no manifest."""
    from revenue.io.manifest import read_manifest

    environ = read_manifest(home, name)
    return None if environ is None else Environment(name, EmbeddedEnvironment.from_manifest(environ))


_cache: dict[str, Environment] = {}
_lock = threading.Lock()


def environment(name: str) -> Environment:
    """The environment named ``name`` (a ``revenue-environment`` block), cached per process."""
    with _lock:
        if name not in _cache:
            from blocks.environment import RevenueEnvironment

            try:
                pipeline = cast(RevenueEnvironment, RevenueEnvironment.load(name))
            except ValueError as error:
                if "Unable to find block document" in str(error) or "not found" in str(error).lower():
                    from revenue.io.block_lookup import not_found

                    raise not_found(name) from None
                raise
            _cache[name] = Environment(name=name, block=pipeline)
        return _cache[name]


def forget_environments() -> None:
    """Drop cached environments (after blocks are re-created, and in tests)."""
    with _lock:
        for env in _cache.values():
            for key in ("source", "warehouse"):
                if key in env.__dict__:
                    env.__dict__[key].engine.dispose()
        _cache.clear()
