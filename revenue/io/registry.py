"""The landing registry: every landed file version, in landing order, and the days it touches.

A landed file is registered durably when it is first seen (by the watcher, or by a run given
its key), not when a run publishes it. Its landing sequence (``seq``) is the order in which
files were registered. A partition's input is its source rows overlaid by the rows of every
*current* registered file for the day, in landing order: a later landing wins by
``order_id``. So the cron, a backfill and any landing run of a day compute the same input,
whatever order they run in.

Tables (in the warehouse) and their grain:

- ``landing_registry``: one row per landing of a file version: ``seq``, ``uri``, ``key``,
  ``etag``, ``size``, who registered it and when, when its event was announced, and its
  ``read_status``: ``pending`` (not read yet), ``read``, ``unreadable`` (with ``error``: it
  cannot be read, or no row has a usable ``order_date``), or ``replaced`` (the object changed
  or was deleted before it was read: its bytes are gone). While pending, its read lease:
  ``lease_owner`` (host:pid:token), ``lease_expires``, ``read_attempts`` (readings started).
- ``landing_registry_days``: one row per (``seq``, ``partition_date``) a read version has
  rows on, with the number of ``rows``.
- ``landed_row_rejects``: one row per (``seq``, ``line``) of a read version that no
  partition can take (no usable ``order_date``, the wrong number of fields), with its
  ``reason`` and the raw ``record``.
- ``landed_orders``: one row per (``seq``, ``order_id``, ``partition_date``) a read version
  has a valid version of the order on; ``latest`` marks the day of the file's newest version
  of it. Indexed by ``order_id``: a day finds its orders' versions on other days in one
  query (``versions_elsewhere``), however many files landed. Landings read before this table
  existed get their rows on the next plan that reads (``orders_recorded`` is null for them).

Rules:

- Registering the version a URI's latest registration already has is that landing again
  (a replay, or the same bytes put twice); any other version is a new landing. Files a
  listing finds are registered oldest first (by the time they were written, then by key).
- Reading never fails for one file's sake: a file that is gone, unreadable, refused by the
  store, over the reader's memory or time, or whose reader raised or was killed is recorded
  as such (``replaced`` or ``unreadable``, never left ``pending``), and the other files and
  runs go on. Only a service outage is raised (the lease given back), to be retried.
- Only ``read_pending`` (runs that plan) reads a pending file: under its lease, taken by one
  conditional UPDATE (free or expired), renewed while a child process reads it
  (``revenue.io.isolated_read``); another planner waits for the holder's record (bounded),
  an expired lease is taken over, and a file whose reading stopped twice without finishing
  (its readers killed) is unreadable. ``revenue status``, the grid and the watcher read none.
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
import os
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from revenue.catalog import FILE_REJECT_COLUMNS
from revenue.contract import REQUIRED_COLUMNS
from revenue.errors import DataError, InputSuperseded, ServiceUnavailableError
from revenue.io.errors import service
from revenue.io.isolated_read import FileSummary, ReaderDied, read_isolated
from revenue.io.keys import LandingKeyError
from revenue.io.landed_files import LandedFileError, read_and_split
from revenue.io.landing import (
    EVENT_NAMESPACE,
    LandedFile,
    listed_files,
    mark_error,
    resolve_landed,
)
from revenue.io.limits import LandingLimits
from revenue.io.storage import ObjectChanged, ObjectStore
from revenue.io.warehouse.database import Guard, Warehouse
from revenue.io.warehouse.sql import as_date, id_batches, insert_frame
from revenue.transforms.identity import OTHER_VERSION_COLUMNS, landed_order_days, no_other_versions

log = logging.getLogger(__name__)

LISTING_CURSOR = "landing-listing-cursor"
"""Heartbeat row (one per landing location) whose detail is the greatest key listed so far."""
FULL_LISTING = "landing-full-listing"
"""Heartbeat row (one per landing location): when the whole landing prefix was last listed."""

PENDING, READ, UNREADABLE, REPLACED = "pending", "read", "unreadable", "replaced"
REGISTERED_BY_RUN = "run"
"""``registered_by`` of a landing a flow run registered itself (``register_landed_key``)."""
LEASE_SECONDS = 60.0
"""How long a landing's read lease lasts unless renewed (its reader renews it every few
seconds); ``REVENUE_LANDING_LEASE_SECONDS`` overrides it."""
MAX_READ_ATTEMPTS = 2
STOPPED_TWICE = "reading it stopped twice without finishing"
_CLAIMED, _BUSY, _DONE, _STOPPED_TWICE = "claimed", "busy", "done", "stopped twice"
_SPLIT_CACHE_SIZE = 8


def _no_rows() -> pd.DataFrame:
    """A landed file's rows when it has none for a day (a new frame each time: callers may
    modify what they get)."""
    return pd.DataFrame(columns=list(REQUIRED_COLUMNS))


@dataclass(frozen=True)
class LandedVersion:
    """One registered landing of a file version."""

    seq: int
    uri: str
    key: str
    etag: str
    size: int

    @property
    def event_id(self) -> uuid.UUID:
        """Deterministic per landing: a replay of the same landing has the same id (the
        server stores it once); the same bytes landed again after another version do not."""
        return uuid.uuid5(EVENT_NAMESPACE, f"{self.uri}@{self.etag}#{self.seq}")

    @property
    def file(self) -> LandedFile:
        return LandedFile(uri=self.uri, key=self.key, etag=self.etag, size=self.size)


@dataclass(frozen=True)
class Registration:
    """A landing and what reading it found."""

    version: LandedVersion
    read_status: str
    rows: int | None
    error: str | None
    days: tuple[dt.date, ...] = ()


@dataclass(frozen=True)
class FileSplit:
    """A read version's rows by day and the rows no day can take (``line``-indexed)."""

    by_day: dict[dt.date, pd.DataFrame]
    rejects: pd.DataFrame


class LandingRegistry:
    """The landing registry of one environment: its warehouse tables and landing store."""

    def __init__(self, warehouse: Warehouse, store: ObjectStore | None) -> None:
        self.warehouse = warehouse
        self.store = store
        self.files = warehouse.table("landing_registry")
        self.days = warehouse.table("landing_registry_days")
        self.rejects = warehouse.table("landed_row_rejects")
        self.orders = warehouse.table("landed_orders")
        self._splits: OrderedDict[tuple[str, str], FileSplit] = OrderedDict()
        self._splits_lock = threading.Lock()

    @property
    def _landing(self) -> ObjectStore:
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
                return _version(latest)
            seq = connection.execute(
                self.files.insert()
                .values(
                    uri=landed.uri,
                    key=landed.key,
                    etag=landed.etag,
                    size=landed.size,
                    registered_at=_now(),
                    registered_by=by,
                    read_status=PENDING,
                    announced_at=_now() if announced else None,
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

    # ----------------------------------------------------------------------- listing cursor

    def listing_cursor(self, full_listing_every: dt.timedelta) -> str | None:
        """The key the next listing starts after: the greatest key listed so far, or None
        when the whole prefix is due to be listed (never yet, or ``full_listing_every``
        ago). Kept in the warehouse, so a restarted or cron-started watcher goes on from it."""
        from revenue.io.activity import last_beat, last_beat_with_detail

        full = last_beat(self.warehouse, self._cursor_row(FULL_LISTING))
        if full is None or dt.datetime.now(dt.timezone.utc) - full >= full_listing_every:
            return None
        cursor = last_beat_with_detail(self.warehouse, self._cursor_row(LISTING_CURSOR))
        return cursor[1] if cursor else None

    def _cursor_row(self, name: str) -> str:
        """The heartbeat row of ``name`` for this landing location (a changed landing block,
        or another environment on the same warehouse, starts from no cursor)."""
        return f"{name} {self._landing.uri()}"

    def advance_listing_cursor(self, listed: Sequence[LandedFile], start_after: str | None) -> None:
        """After the listed files are registered: the cursor moves to the greatest key seen
        (never back); a listing that started nowhere is recorded as the full listing."""
        from revenue.io.activity import beat, last_beat_with_detail

        previous = last_beat_with_detail(self.warehouse, self._cursor_row(LISTING_CURSOR))
        old = previous[1] if previous else None
        new = max([f.key for f in listed] + ([old] if old else []), default=None)
        if new is not None and new != old:
            beat(self.warehouse, self._cursor_row(LISTING_CURSOR), new)
        if start_after is None:
            beat(self.warehouse, self._cursor_row(FULL_LISTING), f"{len(listed)} file(s) under the landing prefix")

    def register_landed_key(self, key_or_uri: str, by: str, announced: bool = False) -> LandedVersion:
        """Resolve a key (inside the landing prefix only), register what is there now
        (``announced``: as ``register`` says)."""
        return self.register(resolve_landed(self._landing, key_or_uri), by, announced)

    # ----------------------------------------------------------------------- announcing

    def unannounced(self) -> list[LandedVersion]:
        """Landings whose ``revenue.file.landed`` event was not sent yet, in landing order."""
        self.warehouse.ensure_tables()
        query = sa.select(self.files).where(self.files.c.announced_at.is_(None)).order_by(self.files.c.seq)
        with self.warehouse.service("reading the landing registry"), self.warehouse.engine.connect() as connection:
            return [_version(r) for r in connection.execute(query).mappings()]

    def mark_announced(self, version: LandedVersion) -> None:
        with self.warehouse.service("recording an announced file"), self.warehouse.engine.begin() as connection:
            connection.execute(self.files.update().where(self.files.c.seq == version.seq).values(announced_at=_now()))

    # ----------------------------------------------------------------------- reading

    def read_pending(self) -> list[Registration]:
        """Read every landing not read yet, and record the days it touches (or why it
        cannot be read), each under a lease: one process reads a file at a time, the
        others wait (bounded) for what it records. Whatever stops a reading (a limit, the
        reader's memory cap, a bug, a killed process) ends as ``unreadable``, never
        ``pending``; only a service outage is raised, to be retried."""
        self.warehouse.ensure_tables()
        pending = self.pending()
        owner = _lease_owner()
        found: dict[int, Registration] = {}
        busy = []
        for version in pending:
            claim = self._claim(version, owner)
            if claim == _CLAIMED:
                found[version.seq] = self._read_leased(version, owner)
            elif claim == _STOPPED_TWICE:
                found[version.seq] = self._unreadable(version, f"landed file {version.uri}: {STOPPED_TWICE}")
            elif claim == _BUSY:
                busy.append(version)
        for version in busy:
            found[version.seq] = self._await(version, owner)
        self._record_orders_of_earlier_reads()
        return [found.get(v.seq) or self._recorded(v) for v in pending]

    def _record_orders_of_earlier_reads(self) -> None:
        """Record the orders of landings read before ``landed_orders`` existed (their
        ``orders_recorded`` is null), from their bytes, read in this process as a run reads
        an already-read file. A file whose bytes are gone is recorded as having none: its
        days keep their orders, but they cannot move another day's orders."""
        files = self.files
        query = sa.select(files).where(files.c.read_status == READ, files.c.orders_recorded.is_(None))
        with self.warehouse.service("reading the landing registry"), self.warehouse.engine.connect() as connection:
            earlier = [_version(r) for r in connection.execute(query).mappings()]
        for version in earlier:
            try:
                orders = landed_order_days(self._split(version).by_day)
            except (ObjectChanged, LandedFileError, LandingKeyError) as gone:
                log.warning(
                    "landed file %s (landing %d): its orders cannot be recorded: %s", version.uri, version.seq, gone
                )
                orders = None
            with (
                self.warehouse.service("recording a landed file's orders"),
                self.warehouse.engine.begin() as connection,
            ):
                claimed = connection.execute(
                    files.update()
                    .where(files.c.seq == version.seq, files.c.orders_recorded.is_(None))
                    .values(orders_recorded=orders is not None)
                ).rowcount
                if claimed and orders is not None:
                    self._insert_orders(connection, version.seq, orders)

    def pending(self) -> list[LandedVersion]:
        """Landings not read yet, in landing order (nothing is read: ``revenue status``
        and the watcher show them as pending)."""
        self.warehouse.ensure_tables()
        query = sa.select(self.files).where(self.files.c.read_status == PENDING).order_by(self.files.c.seq)
        with self.warehouse.service("reading the landing registry"), self.warehouse.engine.connect() as connection:
            return [_version(r) for r in connection.execute(query).mappings()]

    def registration(self, version: LandedVersion) -> Registration:
        """What is known of a landing (reading pending ones first if no one has)."""
        self.read_pending()
        return self._recorded(version)

    def _recorded(self, version: LandedVersion) -> Registration:
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
        return Registration(version, row["read_status"], row["rows"], row["error"], tuple(days))

    # ----------------------------------------------------------------------- the read lease

    def _claim(self, version: LandedVersion, owner: str) -> str:
        """Take the lease of a pending landing with one conditional UPDATE: it is free, or
        its holder stopped renewing it (a killed process). The third reading of a file whose
        two readings stopped without finishing is not started (``_STOPPED_TWICE``)."""
        now = _now()
        files = self.files
        with (
            self.warehouse.service("leasing a landed file"),
            self.warehouse.engine.begin() as connection,
        ):
            claimed = connection.execute(
                files.update()
                .where(
                    files.c.seq == version.seq,
                    files.c.read_status == PENDING,
                    sa.or_(files.c.lease_owner.is_(None), files.c.lease_expires < now),
                )
                .values(
                    lease_owner=owner,
                    lease_expires=now + lease_duration(),
                    read_attempts=sa.func.coalesce(files.c.read_attempts, 0) + 1,
                )
            ).rowcount
            row = (
                connection.execute(
                    sa.select(files.c.read_status, files.c.read_attempts).where(files.c.seq == version.seq)
                )
                .mappings()
                .one()
            )
        if not claimed:
            return _BUSY if row["read_status"] == PENDING else _DONE
        return _STOPPED_TWICE if row["read_attempts"] > MAX_READ_ATTEMPTS else _CLAIMED

    def _renew(self, version: LandedVersion, owner: str) -> None:
        """Keep the lease while reading (a lease taken over meanwhile is not taken back:
        whoever records first wins, the other's record is a no-op)."""
        with self.warehouse.service("renewing a landed file's lease"), self.warehouse.engine.begin() as connection:
            connection.execute(
                self.files.update()
                .where(self.files.c.seq == version.seq, self.files.c.lease_owner == owner)
                .values(lease_expires=_now() + lease_duration())
            )

    def _release(self, version: LandedVersion, owner: str) -> None:
        """Give the lease back unread (a service outage): that reading does not count."""
        with self.warehouse.engine.begin() as connection:
            connection.execute(
                self.files.update()
                .where(
                    self.files.c.seq == version.seq,
                    self.files.c.lease_owner == owner,
                    self.files.c.read_status == PENDING,
                )
                .values(lease_owner=None, lease_expires=None, read_attempts=self.files.c.read_attempts - 1)
            )

    def _await(self, version: LandedVersion, owner: str) -> Registration:
        """Wait for the holder of a landing's lease to record what it read, taking the lease
        over if it expires; bounded by the longest a reading may take plus a lease."""
        deadline = (
            time.monotonic() + LandingLimits.from_environment().read_seconds + 2 * lease_duration().total_seconds()
        )
        pause = 0.05
        log.info("landed file %s (landing %d) is being read by another process: waiting", version.uri, version.seq)
        while time.monotonic() < deadline:
            claim = self._claim(version, owner)
            if claim == _DONE:
                return self._recorded(version)
            if claim == _CLAIMED:
                return self._read_leased(version, owner)
            if claim == _STOPPED_TWICE:
                return self._unreadable(version, f"landed file {version.uri}: {STOPPED_TWICE}")
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 1.0)
        raise ServiceUnavailableError(
            f"landing registry {self.warehouse.label}",
            f"waiting for landed file {version.uri} (landing {version.seq}) to be read by another process",
            None,
            "its reading neither finished nor stopped in time",
        )

    def _read_leased(self, version: LandedVersion, owner: str) -> Registration:
        """Read a landing whose lease this process holds, in a child process within the
        read limits, and record what it holds. Every way a reading can end is recorded
        (read, unreadable, replaced) except a service outage: the lease is given back and
        the outage raised, to be retried."""
        try:
            return self._read(version, owner)
        except ServiceUnavailableError:
            try:
                self._release(version, owner)
            except Exception as error:  # noqa: BLE001 - the lease expires by itself
                log.warning("could not give back the lease of %s: %s", version.uri, error)
            raise

    def _read(self, version: LandedVersion, owner: str | None = None) -> Registration:
        """Read a landing once and record what it holds. A file that is gone, or cannot be
        read, or whose reader dies, is recorded as such: it never stops the reading of
        other files (a service that is down is raised, to be retried; a malformed limit
        setting is raised as the ``ConfigurationError`` it is)."""
        limits = LandingLimits.from_environment()
        try:
            limits.check_size(version.uri, version.size)
            store = self._landing
            with service(f"landing {store.uri()}", f"reading {version.key}"):
                data = store.get(version.key, etag=version.etag)
            summary = read_isolated(
                data,
                version.uri,
                limits,
                still_mine=(lambda: self._renew(version, owner)) if owner else (lambda: None),
            )
        except ObjectChanged:
            return self._record_read(version, REPLACED, error="replaced or deleted before it was read")
        except ServiceUnavailableError:
            raise
        except LandedFileError as error:
            return self._unreadable(version, str(error))
        except ReaderDied as died:
            return self._unreadable(version, f"landed file {version.uri}: {died.reason}")
        except LandingKeyError as error:  # a key the store will not serve (a symbolic link, ...)
            return self._unreadable(version, str(error))
        except OSError as error:
            return self._unreadable(version, f"landed file {version.uri}: cannot be read ({type(error).__name__})")
        except MemoryError:  # holding its bytes here
            return self._unreadable(version, f"landed file {version.uri}: reading it ran out of memory")
        except Exception as error:  # the store's refusal (403, ...), a key it will not serve, a bug
            reason = (
                f"the store refused to read it ({_store_code(error)})"
                if _refused_by_store(error)
                else f"reading it failed ({type(error).__name__}: {str(error)[:200]})"
            )
            return self._unreadable(version, f"landed file {version.uri}: {reason}")
        if not summary.days:
            return self._unreadable(version, f"landed file {version.uri}: no row has a usable order_date", summary)
        return self._record_read(version, READ, summary=summary)

    def _unreadable(self, version: LandedVersion, reason: str, summary: FileSummary | None = None) -> Registration:
        """Record the landing as unreadable, then leave the marker under ``_errors/`` (the
        registry is the record: a marker the store refuses is logged, the file still ends
        unreadable rather than pending)."""
        registration = self._record_read(version, UNREADABLE, summary=summary, error=reason)
        try:
            mark_error(self._landing, version.file, reason)
        except Exception as error:  # noqa: BLE001 - the marker is a courtesy copy
            log.warning("landed file %s: could not write its error marker: %s", version.uri, error)
        return registration

    def _record_read(
        self, version: LandedVersion, status: str, summary: FileSummary | None = None, error: str | None = None
    ) -> Registration:
        """Record how a pending landing's reading ended (the first record wins) and free its lease."""
        rows = summary.rows if summary else None
        with (
            self.warehouse.service("recording a landed file"),
            self.warehouse.write_transaction("landing-registry") as connection,
        ):
            claimed = connection.execute(
                self.files.update()
                .where(self.files.c.seq == version.seq, self.files.c.read_status == PENDING)
                .values(
                    read_status=status,
                    read_at=_now(),
                    rows=rows,
                    error=error,
                    lease_owner=None,
                    lease_expires=None,
                    orders_recorded=summary is not None and summary.orders is not None,
                )
            ).rowcount
            if claimed and summary is not None and summary.orders is not None:
                self._insert_orders(connection, version.seq, summary.orders)
            if claimed and summary is not None:
                day_rows = [{"seq": version.seq, "partition_date": d, "rows": n} for d, n in summary.days.items()]
                if day_rows:
                    connection.execute(self.days.insert(), day_rows)
                rejects = summary.rejects.assign(seq=version.seq)
                if len(rejects):
                    connection.execute(
                        self.rejects.insert(),
                        rejects[["seq", *FILE_REJECT_COLUMNS]]
                        .astype("object")
                        .where(rejects.notna(), None)
                        .to_dict(orient="records"),
                    )
        if claimed and status != READ:
            log.warning("landed file %s (landing %d): %s", version.uri, version.seq, error)
        days = tuple(sorted(summary.days)) if summary else ()
        return Registration(version, status, rows, error, days)

    def _insert_orders(self, connection: Connection, seq: int, orders: pd.DataFrame) -> None:
        """The ``landed_orders`` rows of a landing, inside the caller's transaction."""
        if len(orders):
            insert_frame(connection, self.orders, orders.assign(seq=seq))

    def versions_elsewhere(self, partition: dt.date | None, order_ids: Sequence[int]) -> pd.DataFrame:
        """The versions of these orders that current landings hold on other days than
        ``partition`` (any day when it is None; ``revenue.transforms.identity.
        OTHER_VERSION_COLUMNS``; landed versions have no timestamps: they are ranked by
        landing). One query per batch of ids, by the ``order_id`` index."""
        dialect = self.warehouse.engine.dialect.name
        conditions = [
            [where] + ([self.orders.c.partition_date != partition] if partition is not None else [])
            for where in id_batches(self.orders.c.order_id, order_ids, dialect)
        ]
        found = self._landed_versions(conditions, partition)
        return found[found["order_id"].isin(list(order_ids))].reset_index(drop=True) if len(found) else found

    def versions_on(self, partitions: Sequence[dt.date]) -> pd.DataFrame:
        """The versions current landings hold on these days (``OTHER_VERSION_COLUMNS``)."""
        days = sorted(set(partitions))
        return self._landed_versions(
            [[self.orders.c.partition_date.in_(days[i : i + 500])] for i in range(0, len(days), 500)]
        )

    def _landed_versions(self, conditions: list[list], partition: dt.date | None = None) -> pd.DataFrame:
        """Current landings' ``landed_orders`` rows meeting each list of ``conditions``."""
        current = self._current_seqs()
        frames = []
        for where in conditions:
            query = (
                sa.select(
                    self.orders.c.order_id,
                    self.orders.c.partition_date,
                    self.orders.c.seq.label("landing_seq"),
                    self.orders.c.latest,
                    self.files.c.uri.label("origin"),
                )
                .select_from(
                    self.orders.join(current, current.c.seq == self.orders.c.seq).join(
                        self.files, self.files.c.seq == self.orders.c.seq
                    )
                )
                .where(*where)
            )
            with self.warehouse.service("reading landed orders", partition), self.warehouse.engine.connect() as c:
                frames.append(pd.DataFrame(c.execute(query).mappings().all()))
        found = [f for f in frames if len(f)]
        if not found:
            return no_other_versions()
        versions = pd.concat(found, ignore_index=True).astype({"order_id": "int64", "landing_seq": "int64"})
        versions["latest"] = versions["latest"].astype(bool)
        versions["partition_date"] = [as_date(d) for d in versions["partition_date"]]
        versions["updated_at"] = pd.Series(pd.NaT, index=versions.index, dtype="datetime64[ns, UTC]")
        versions["order_date"] = pd.Series(pd.NaT, index=versions.index, dtype="datetime64[ns, UTC]")
        return versions[list(OTHER_VERSION_COLUMNS)]

    def holding(self, order_ids: Sequence[int]) -> list[LandedVersion]:
        """The current landings that hold a version of any of these orders, on any day, in
        landing order (``revenue verify`` reads them to decide each order's day itself)."""
        current = self._current_seqs()
        wanted = set(order_ids)
        seqs: set[int] = set()
        for where in id_batches(self.orders.c.order_id, order_ids, self.warehouse.engine.dialect.name):
            query = (
                sa.select(self.orders.c.seq, self.orders.c.order_id)
                .select_from(self.orders.join(current, current.c.seq == self.orders.c.seq))
                .where(where)
            )
            with self.warehouse.service("reading landed orders"), self.warehouse.engine.connect() as connection:
                seqs.update(int(r.seq) for r in connection.execute(query) if r.order_id in wanted)
        if not seqs:
            return []
        query = sa.select(self.files).where(self.files.c.seq.in_(sorted(seqs))).order_by(self.files.c.seq)
        with self.warehouse.service("reading the landing registry"), self.warehouse.engine.connect() as connection:
            return [_version(r) for r in connection.execute(query).mappings()]

    def _current_seqs(self) -> sa.Subquery:
        """Each URI's current landing: its latest read one."""
        return (
            sa.select(self.files.c.uri, sa.func.max(self.files.c.seq).label("seq"))
            .where(self.files.c.read_status == READ)
            .group_by(self.files.c.uri)
            .subquery()
        )

    def _split(self, version: LandedVersion) -> FileSplit:
        """The version's rows by day, read once per process (only those exact bytes)."""
        cache_key = (version.uri, version.etag)
        with self._splits_lock:
            if cache_key in self._splits:
                self._splits.move_to_end(cache_key)
                return self._splits[cache_key]
        store = self._landing
        with service(f"landing {store.uri()}", f"reading {version.key}"):
            data = store.get(version.key, etag=version.etag)
        split = FileSplit(*read_and_split(data, version.uri))
        with self._splits_lock:
            self._splits[cache_key] = split
            while len(self._splits) > _SPLIT_CACHE_SIZE:
                self._splits.popitem(last=False)
        return split

    def rows_of(self, version: LandedVersion, partition: dt.date) -> pd.DataFrame:
        """Every order row of a read version, whichever day it was assigned to (for checks
        that decide the day themselves), indexed by line."""
        self.rows_for(version, partition)  # the same bytes, or the same refusal
        by_day = self._split(version).by_day
        return pd.concat(list(by_day.values())) if by_day else _no_rows()

    def rows_for(self, version: LandedVersion, partition: dt.date) -> pd.DataFrame:
        """A read version's rows of one day, values as landed, indexed by line.

        Raises:
            InputSuperseded: the object was replaced by a version not registered yet (it is
                registered now; the partition must be planned again).
            DataError: the registered bytes are gone and the object's current version is
                already registered (unreadable or deleted): the day cannot be recomputed
                until a readable version lands.
        """
        try:
            by_day = self._split(version).by_day
            return by_day[partition] if partition in by_day else _no_rows()
        except ObjectChanged:
            pass
        with service(f"landing {self._landing.uri()}", f"reading {version.key}", partition):
            current = self._landing.head(version.key)
        if current is None:
            raise DataError(
                f"landed file {version.uri} (landing {version.seq}) was deleted from the landing zone: "
                f"partition {partition} cannot be recomputed without it; land it again"
            ) from None
        latest = self.registration(
            self.register(LandedFile(version.uri, version.key, current.etag, current.size), by=REGISTERED_BY_RUN)
        )
        if latest.read_status == READ:
            raise InputSuperseded(partition, f"landed file {version.uri} was replaced by landing {latest.version.seq}")
        raise DataError(
            f"landed file {version.uri}: landing {version.seq} was replaced by landing {latest.version.seq}, "
            f"which cannot be read ({latest.error}); partition {partition} keeps its published version "
            "until a readable file lands"
        )

    # ----------------------------------------------------------------------- the input of days

    def current_files(
        self, start: dt.date, end: dt.date, connection: Connection | None = None
    ) -> dict[dt.date, list[LandedVersion]]:
        """Each day's current landed files (each URI's latest read version that has rows
        on the day), in landing order (one query for the range)."""
        current = self._current_seqs()
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
            rows = connection.execute(query).mappings().all()
        else:
            self.warehouse.ensure_tables()
            with self.warehouse.service("reading the landing registry"), self.warehouse.engine.connect() as own:
                rows = own.execute(query).mappings().all()
        for row in rows:
            found.setdefault(row["partition_date"], []).append(_version(row))
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

    def rejects_of(self, version: LandedVersion) -> pd.DataFrame:
        """The rows of a landing no partition can take (``line``, ``order_id``, ``reason``, ``record``)."""
        query = sa.select(self.rejects).where(self.rejects.c.seq == version.seq).order_by(self.rejects.c.line)
        with self.warehouse.service("reading the landing registry"), self.warehouse.engine.connect() as connection:
            return pd.DataFrame(
                connection.execute(query).mappings().all(), columns=[c.name for c in self.rejects.columns]
            )


def watch_once(registry: LandingRegistry, full_listing_every: dt.timedelta | None = None) -> list[LandedVersion]:
    """One listing pass of the landing zone: register new versions, return the landings
    whose event is still to be sent (including ones a crash left unannounced).

    Without ``full_listing_every`` the whole landing prefix is listed. With it, the listing
    starts after the cursor (S3's ``StartAfter``: the greatest key listed so far), so a pass
    costs what landed since, not every file ever landed; the whole prefix is listed again
    once per ``full_listing_every``, which finds (that late, at most) a file landed under a
    key that sorts before the cursor and an object replaced in place."""
    start_after = registry.listing_cursor(full_listing_every) if full_listing_every is not None else None
    listed = listed_files(registry._landing, start_after=start_after)
    registry.register_new(listed, by="watcher")
    if full_listing_every is not None:
        registry.advance_listing_cursor(listed, start_after)
    return registry.unannounced()


def _refused_by_store(error: BaseException) -> bool:
    """An S3 client error that is the store's answer (403, 400, ...), not an outage."""
    try:
        from botocore.exceptions import ClientError
    except ImportError:  # pragma: no cover
        return False
    if not isinstance(error, ClientError):
        return False
    return 400 <= error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) < 500


def _store_code(error: BaseException) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)


def _version(row) -> LandedVersion:
    return LandedVersion(seq=int(row["seq"]), uri=row["uri"], key=row["key"], etag=row["etag"], size=int(row["size"]))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def lease_duration() -> dt.timedelta:
    """A read lease's life without renewal (``REVENUE_LANDING_LEASE_SECONDS``, else 60 s)."""
    return dt.timedelta(seconds=float(os.environ.get("REVENUE_LANDING_LEASE_SECONDS") or LEASE_SECONDS))


def _lease_owner() -> str:
    """Who holds a lease: host, process and this reading (unique per call)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
