"""The landing registry: every landed file version, in landing order, and the days it touches.

A landed file is registered durably when it is first seen (by the watcher, or by a run given
its key), not when a run publishes it. Its landing sequence (``seq``) is the order in which
files were registered. A partition's input is its source rows overlaid by the rows of every
*current* registered file for the day, in landing order: a later landing wins by
``order_id``. So the cron, a backfill and any landing run of a day compute the same input,
whatever order they run in.

Tables: ``landing_registry`` (one row per landing of a file version, with its
``read_status``), ``landing_registry_days`` (one row per landing and day it has rows on),
``landed_orders`` and ``landed_row_rejects``: see ``revenue.io.landing.tables``.

``LandingRegistry`` is the one handle on them (``Environment.registry``). Registering,
announcing and the current files of days are here; the rest lives with its seam and the
methods below hand over to it:

- reading pending landings under their lease: ``revenue.io.landing.reads`` and
  ``revenue.io.landing.leases``;
- a read landing's rows for a day: ``revenue.io.landing.rows``;
- the versions of orders current landings hold: ``revenue.io.landing.orders``;
- the watcher's listing pass and cursor: ``revenue.io.landing.listing``.

Rules:

- Registering the version a URI's latest registration already has is that landing again
  (a replay, or the same bytes put twice); any other version is a new landing. Files a
  listing finds are registered oldest first (by the time they were written, then by key).
- A URI's *current* version is its latest ``read`` one. A new version that cannot be read
  does not erase the orders of the version before it: a day that needs those bytes again
  fails, naming the file, until a readable version lands.
- Before a partition publishes, under the day's lock, ``guard`` compares the day's current
  files with the ones it computed from: a file registered and read meanwhile makes the
  publish refuse (``InputSuperseded``), and the partition is recomputed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from revenue.errors import DataError, InputSuperseded
from revenue.io.landing import orders, reads, rows
from revenue.io.landing.versions import (
    PENDING,
    READ,
    REPLACED,
    LandedVersion,
    Registration,
    read_status,
    utc_now,
    version_of,
)
from revenue.io.landing.zone import LandedFile, resolve_landed
from revenue.io.storage import ObjectStore
from revenue.io.warehouse.database import Guard, Warehouse
from revenue.io.warehouse.sql import as_date

log = logging.getLogger(__name__)


class LandingRegistry:
    """The landing registry of one environment: its warehouse tables and landing store."""

    def __init__(self, warehouse: Warehouse, store: ObjectStore | None) -> None:
        self.warehouse = warehouse
        self.store = store
        self.files = warehouse.table("landing_registry")
        self.days = warehouse.table("landing_registry_days")
        self.rejects = warehouse.table("landed_row_rejects")
        self.orders = warehouse.table("landed_orders")
        self.splits = rows.SplitCache()

    @property
    def landing(self) -> ObjectStore:
        """The landing store (``DataError`` when the environment has no landing block)."""
        if self.store is None:
            raise DataError("this environment has no landing block")
        return self.store

    # ----------------------------------------------------------------------- registering

    def register(self, landed: LandedFile, by: str, announced: bool = False) -> LandedVersion:
        """The landing of this object version: the URI's latest one if it has this ETag,
        else a new landing with the next sequence number. ``announced``: its run exists
        already (the run a ``revenue.file.landed`` event from elsewhere started, such as the
        Cloud webhook's), so a watcher listing it later must not start a second one."""
        self.warehouse.ensure_tables()
        with (
            self.warehouse.service("registering a landed file"),
            self.warehouse.write_transaction("landing-registry") as connection,
        ):
            latest = (
                connection.execute(
                    sa.select(self.files)
                    .where(self.files.c.uri == landed.uri)
                    .order_by(self.files.c.seq.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
            if latest is not None and latest["etag"] == landed.etag and latest["read_status"] != REPLACED:
                return version_of(latest)
            seq = connection.execute(
                self.files.insert()
                .values(
                    uri=landed.uri,
                    key=landed.key,
                    etag=landed.etag,
                    size=landed.size,
                    registered_at=utc_now(),
                    registered_by=by,
                    read_status=PENDING,
                    announced_at=utc_now() if announced else None,
                )
                .returning(self.files.c.seq)
            ).scalar_one()
        log.info("registered %s (etag %s) as landing %d", landed.uri, landed.etag, seq)
        return LandedVersion(seq, landed.uri, landed.key, landed.etag, landed.size)

    def register_new(self, listed: Sequence[LandedFile], by: str) -> list[LandedVersion]:
        """Register every listed object whose version is not its URI's latest landing, or
        whose latest landing was replaced before it was read (the same bytes put back are a
        new landing, as ``register`` has it); a query per 1,000 listed to compare, one
        transaction per new landing."""
        latest: dict[str, str] = {}
        uris = sorted({f.uri for f in listed})
        for start in range(0, len(uris), 1000):
            latest.update(self.latest_etags(uris[start : start + 1000]))
        return [self.register(f, by) for f in listed if latest.get(f.uri) != f.etag]

    def latest_etags(self, uris: Sequence[str] | None = None) -> dict[str, str]:
        """The ETag of each URI's latest landing (of ``uris`` only, when given), except a
        landing replaced before it was read: that version is not held, whatever comes next."""
        self.warehouse.ensure_tables()
        latest_seq = sa.select(self.files.c.uri, sa.func.max(self.files.c.seq).label("seq")).group_by(self.files.c.uri)
        if uris is not None:
            if not uris:
                return {}
            latest_seq = latest_seq.where(self.files.c.uri.in_(list(uris)))
        newest = latest_seq.subquery()
        query = (
            sa.select(self.files.c.uri, self.files.c.etag)
            .join(newest, newest.c.seq == self.files.c.seq)
            .where(self.files.c.read_status != REPLACED)
        )
        with self.warehouse.service("reading the landing registry"), self.warehouse.engine.connect() as connection:
            return {r.uri: r.etag for r in connection.execute(query)}

    def register_landed_key(self, key_or_uri: str, by: str, announced: bool = False) -> LandedVersion:
        """Resolve a key (inside the landing prefix only), register what is there now
        (``announced``: as ``register`` says)."""
        return self.register(resolve_landed(self.landing, key_or_uri), by, announced)

    # ----------------------------------------------------------------------- announcing

    def unannounced(self) -> list[LandedVersion]:
        """Landings whose ``revenue.file.landed`` event was not sent yet, in landing order."""
        self.warehouse.ensure_tables()
        query = sa.select(self.files).where(self.files.c.announced_at.is_(None)).order_by(self.files.c.seq)
        with self.warehouse.service("reading the landing registry"), self.warehouse.engine.connect() as connection:
            return [version_of(r) for r in connection.execute(query).mappings()]

    def mark_announced(self, version: LandedVersion) -> None:
        with self.warehouse.service("recording an announced file"), self.warehouse.engine.begin() as connection:
            connection.execute(
                self.files.update().where(self.files.c.seq == version.seq).values(announced_at=utc_now())
            )

    # ----------------------------------------------------------------------- what was read

    def pending(self) -> list[LandedVersion]:
        """Landings not read yet, in landing order (nothing is read: ``revenue status``
        and the watcher show them as pending)."""
        self.warehouse.ensure_tables()
        query = sa.select(self.files).where(self.files.c.read_status == PENDING).order_by(self.files.c.seq)
        with self.warehouse.service("reading the landing registry"), self.warehouse.engine.connect() as connection:
            return [version_of(r) for r in connection.execute(query).mappings()]

    def read_pending(self) -> list[Registration]:
        """Read every landing not read yet (``revenue.io.landing.reads.read_pending``)."""
        return reads.read_pending(self)

    def registration(self, version: LandedVersion) -> Registration:
        """What is known of a landing (reading pending ones first if no one has)."""
        return reads.registration(self, version)

    def recorded(self, version: LandedVersion) -> Registration:
        """What the registry holds of a landing now (nothing is read)."""
        with self.warehouse.service("reading the landing registry"), self.warehouse.engine.connect() as connection:
            row = connection.execute(sa.select(self.files).where(self.files.c.seq == version.seq)).mappings().one()
            days = (
                connection.execute(
                    sa.select(self.days.c.partition_date)
                    .where(self.days.c.seq == version.seq)
                    .order_by(self.days.c.partition_date)
                )
                .scalars()
                .all()
            )
        return Registration(version, read_status(row["read_status"]), row["rows"], row["error"], tuple(days))

    def rows_for(self, version: LandedVersion, partition: dt.date) -> pd.DataFrame:
        """A read version's rows of one day (``revenue.io.landing.rows.rows_for``)."""
        return rows.rows_for(self, version, partition)

    def rows_of(self, version: LandedVersion, partition: dt.date) -> pd.DataFrame:
        """Every order row of a read version (``revenue.io.landing.rows.rows_of``)."""
        return rows.rows_of(self, version, partition)

    def versions_elsewhere(self, partition: dt.date | None, order_ids: Sequence[int]) -> pd.DataFrame:
        """Versions of these orders on other days (``revenue.io.landing.orders``)."""
        return orders.versions_elsewhere(self, partition, order_ids)

    def versions_on(self, partitions: Sequence[dt.date]) -> pd.DataFrame:
        """Versions current landings hold on these days (``revenue.io.landing.orders``)."""
        return orders.versions_on(self, partitions)

    def holding(self, order_ids: Sequence[int]) -> list[LandedVersion]:
        """Current landings holding any of these orders (``revenue.io.landing.orders``)."""
        return orders.holding(self, order_ids)

    def rejects_of(self, version: LandedVersion) -> pd.DataFrame:
        """The rows of a landing no partition can take (``line``, ``order_id``, ``reason``, ``record``)."""
        query = sa.select(self.rejects).where(self.rejects.c.seq == version.seq).order_by(self.rejects.c.line)
        with self.warehouse.service("reading the landing registry"), self.warehouse.engine.connect() as connection:
            return pd.DataFrame(
                connection.execute(query).mappings().all(), columns=[c.name for c in self.rejects.columns]
            )

    # ----------------------------------------------------------------------- the input of days

    def current_seqs(self) -> sa.Subquery:
        """Each URI's current landing: its latest read one."""
        return (
            sa.select(self.files.c.uri, sa.func.max(self.files.c.seq).label("seq"))
            .where(self.files.c.read_status == READ)
            .group_by(self.files.c.uri)
            .subquery()
        )

    def current_files(
        self, start: dt.date, end: dt.date, connection: Connection | None = None
    ) -> dict[dt.date, list[LandedVersion]]:
        """Each day's current landed files (each URI's latest read version that has rows
        on the day), in landing order (one query for the range)."""
        current = self.current_seqs()
        query = (
            sa.select(self.days.c.partition_date, self.files)
            .select_from(
                self.days.join(current, current.c.seq == self.days.c.seq).join(
                    self.files, self.files.c.seq == self.days.c.seq
                )
            )
            .where(self.days.c.partition_date.between(start, end))
            .order_by(self.days.c.partition_date, self.files.c.seq)
        )
        found: dict[dt.date, list[LandedVersion]] = {}
        if connection is not None:
            found_rows = connection.execute(query).mappings().all()
        else:
            self.warehouse.ensure_tables()
            with self.warehouse.service("reading the landing registry"), self.warehouse.engine.connect() as own:
                found_rows = own.execute(query).mappings().all()
        for row in found_rows:
            found.setdefault(row["partition_date"], []).append(version_of(row))
        return found

    def guard(self, partition: dt.date, files: Sequence[LandedVersion]) -> Guard:
        """A publish guard: refuses when the day's current files are not ``files``."""
        expected = [f.seq for f in files]

        def check(connection: Connection) -> None:
            current = self.current_files(partition, partition, connection).get(partition, [])
            if [f.seq for f in current] != expected:
                added = [f.uri for f in current if f.seq not in expected]
                raise InputSuperseded(
                    partition, "landed file(s) registered meanwhile: " + ", ".join(added or ["(a file was replaced)"])
                )

        return check

    def first_day(self) -> dt.date | None:
        """The earliest day any read landing has rows on, None when there is none (one query)."""
        query = (
            sa.select(sa.func.min(self.days.c.partition_date))
            .select_from(self.days.join(self.files, self.files.c.seq == self.days.c.seq))
            .where(self.files.c.read_status == READ)
        )
        self.warehouse.ensure_tables()
        with self.warehouse.service("reading the landing registry"), self.warehouse.engine.connect() as connection:
            first = connection.execute(query).scalar()
        return None if first is None else as_date(first)

    def days_of_uri(self, uri: str) -> list[dt.date]:
        """Every day any read landing of ``uri`` has rows on (a new version of the file
        changes the input of all of them)."""
        query = (
            sa.select(self.days.c.partition_date)
            .distinct()
            .select_from(self.days.join(self.files, self.files.c.seq == self.days.c.seq))
            .where(self.files.c.uri == uri, self.files.c.read_status == READ)
            .order_by(self.days.c.partition_date)
        )
        with self.warehouse.service("reading the landing registry"), self.warehouse.engine.connect() as connection:
            return list(connection.execute(query).scalars())
