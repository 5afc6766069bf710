"""What is happening now, kept in the warehouse so every machine sees it: the partitions
being computed, and when long-lived processes (the landing watcher) last showed a sign of
life.

Tables (in the warehouse's schema) and their grain:

- ``partition_runs``: one row per (``partition_date``, ``run_id``) while that flow run
  computes the partition: when it started (``started_at``) and its last heartbeat
  (``beat_at``, refreshed every quarter of the expiry by a thread of the computing process).
  Removed when the attempt ends, whatever its end, and by any publish of the day (a run
  still computing puts its row back at its next beat). A row whose heartbeat is older than
  ``mark_expiry()`` (60 s) is a run that stopped without finishing (its process was killed,
  crashed or cancelled): never shown as running, but as "stopped" on the day's last
  published state until the day is published or attempted again. A warehouse created
  before ``beat_at`` existed gets the column added (``Warehouse.ensure_tables``); a row
  without one counts from ``started_at``.
- ``heartbeats``: one row per ``name`` (``landing-watcher``): the last ``beat_at`` and a
  short ``detail`` (what the last pass saw). The watcher's listing cursor is one too
  (``landing-listing-cursor``: the greatest key listed, and when the prefix was last listed
  in full).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from revenue.io.warehouse.sql import as_utc, dialect_insert
from revenue.io.warehouse.types import TIMESTAMP
from revenue.settings import RUNNING_MARK_EXPIRES_SECONDS

if TYPE_CHECKING:
    from revenue.io.warehouse.database import Warehouse

log = logging.getLogger(__name__)

EXPIRY_VARIABLE = RUNNING_MARK_EXPIRES_SECONDS.name
"""Overrides the running marks' expiry (seconds) in every process that reads or beats a mark
(tests use a few seconds); the heartbeat runs every quarter of it."""
LANDING_WATCHER = "landing-watcher"


def declare(metadata: sa.MetaData) -> None:
    """Add ``partition_runs`` and ``heartbeats`` to the warehouse's tables."""
    sa.Table(
        "partition_runs",
        metadata,
        sa.Column("partition_date", sa.Date, primary_key=True),
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("beat_at", TIMESTAMP),  # nullable: added in place to tables created before it
    )
    sa.Table(
        "heartbeats",
        metadata,
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("beat_at", TIMESTAMP, nullable=False),
        sa.Column("detail", sa.Text),
    )


def clear_older_marks(
    warehouse: Warehouse, connection: Connection, day: dt.date, run_id: str | None, now: dt.datetime
) -> None:
    """In a publish's transaction: remove the running marks of ``day`` that other runs set
    before it (a killed run's mark must not outlive the version that replaced its work; a run
    still computing puts its mark back at its next heartbeat)."""
    runs = warehouse.table("partition_runs")
    connection.execute(
        runs.delete().where(
            runs.c.partition_date == day, runs.c.run_id != (run_id or "local"), runs.c.started_at <= now
        )
    )


def mark_expiry() -> dt.timedelta:
    """How long a running mark lives without a heartbeat (``EXPIRY_VARIABLE``, else 60 s)."""
    return dt.timedelta(seconds=RUNNING_MARK_EXPIRES_SECONDS.value())


def beat_interval() -> float:
    """Seconds between two heartbeats of a running mark: a quarter of its expiry, so three
    beats in a row may fail (a busy database) before a live run looks stopped."""
    return mark_expiry().total_seconds() / 4


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class RunMark:
    """One run's claim on one partition, as ``partition_runs`` holds it."""

    partition: dt.date
    run_id: str
    started_at: dt.datetime
    beat_at: dt.datetime
    """The last heartbeat (``started_at`` for a row written before heartbeats existed)."""

    def alive(self, now: dt.datetime, expiry: dt.timedelta) -> bool:
        """The run showed a sign of life within ``expiry`` of ``now``."""
        return now - self.beat_at <= expiry


@dataclass(frozen=True)
class RunMarks:
    """The running marks of some days: who computes each now, and who stopped without finishing."""

    live: dict[dt.date, str]
    """Day -> id of a run computing it now (heartbeat within the expiry)."""
    stopped: dict[dt.date, RunMark]
    """Day -> the latest run that claimed it and stopped beating, for days no live run computes."""


class _Heartbeat:
    """A daemon thread that refreshes one mark's ``beat_at`` until stopped (and puts the
    row back if a publish of the day cleared it while this run still computes)."""

    def __init__(self, warehouse: Warehouse, partition: dt.date, key: str, every: float) -> None:
        self._warehouse, self._partition, self._key, self._every = warehouse, partition, key, every
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"running-mark-{partition}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop beating; waits for a beat in flight (a bounded time: the mark expires anyway)."""
        self._stopping.set()
        self._thread.join(timeout=max(self._every, 5.0))

    def _run(self) -> None:
        while not self._stopping.wait(self._every):
            try:
                self._beat()
            except Exception as error:  # the next beat tries again; the mark expires if none lands
                log.warning("could not refresh the running mark of %s: %s", self._partition, error)

    def _beat(self) -> None:
        runs = self._warehouse.table("partition_runs")
        now = _now()
        with self._warehouse.engine.begin() as connection:
            if connection.dialect.name == "sqlite":  # wait out a publish's write lock, as publishes do
                connection.exec_driver_sql("PRAGMA busy_timeout = 60000")
            updated = connection.execute(
                runs.update()
                .where(runs.c.partition_date == self._partition, runs.c.run_id == self._key)
                .values(beat_at=now)
            ).rowcount
            if not updated and not self._stopping.is_set():  # a publish of the day cleared it
                _insert_mark(connection, runs, self._partition, self._key, now)


def _insert_mark(connection: Connection, runs: sa.Table, partition: dt.date, key: str, now: dt.datetime) -> None:
    insert = dialect_insert(connection)(runs).values(partition_date=partition, run_id=key, started_at=now, beat_at=now)
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=["partition_date", "run_id"],
            set_={"started_at": insert.excluded.started_at, "beat_at": insert.excluded.beat_at},
        )
    )


@contextmanager
def running(warehouse: Warehouse, partition: dt.date, run_id: str | None) -> Iterator[None]:
    """Mark ``partition`` as computed by ``run_id`` for the duration of the block, kept alive
    by a heartbeat; the marks of earlier runs of the day that stopped beating are removed
    (this attempt supersedes them)."""
    key = run_id or "local"
    warehouse.ensure_tables(partition)
    runs = warehouse.table("partition_runs")
    now = _now()
    with warehouse.service("marking the partition as running", partition), warehouse.engine.begin() as connection:
        connection.execute(
            runs.delete().where(
                runs.c.partition_date == partition,
                runs.c.run_id != key,
                sa.func.coalesce(runs.c.beat_at, runs.c.started_at) < now - mark_expiry(),
            )
        )
        _insert_mark(connection, runs, partition, key, now)
    heartbeat = _Heartbeat(warehouse, partition, key, beat_interval())
    heartbeat.start()
    try:
        yield
    finally:
        heartbeat.stop()
        try:
            with warehouse.engine.begin() as connection:
                connection.execute(runs.delete().where(runs.c.partition_date == partition, runs.c.run_id == key))
        except Exception as error:  # never hide the attempt's own outcome behind this
            log.warning(
                "could not clear the running mark of %s (it expires %s after its last heartbeat): %s",
                partition,
                mark_expiry(),
                error,
            )


def run_marks(warehouse: Warehouse, days: Iterable[dt.date]) -> RunMarks:
    """The running marks of ``days`` (one query): the runs computing them now, and for the
    other days the latest run that claimed one and stopped without finishing."""
    days = sorted(set(days))
    if not days:
        return RunMarks({}, {})
    warehouse.ensure_tables()
    runs = warehouse.table("partition_runs")
    query = sa.select(runs.c.partition_date, runs.c.run_id, runs.c.started_at, runs.c.beat_at).where(
        runs.c.partition_date.between(days[0], days[-1])
    )
    with warehouse.service("reading the running partitions"), warehouse.engine.connect() as connection:
        rows = connection.execute(query).all()
    wanted, now, expiry = set(days), _now(), mark_expiry()
    marks = [
        RunMark(r.partition_date, r.run_id, as_utc(r.started_at), as_utc(r.beat_at or r.started_at))
        for r in rows
        if r.partition_date in wanted
    ]
    live: dict[dt.date, str] = {}
    stopped: dict[dt.date, RunMark] = {}
    for mark in sorted(marks, key=lambda m: (m.beat_at, m.run_id)):  # the latest wins
        if mark.alive(now, expiry):
            live[mark.partition] = mark.run_id
        else:
            stopped[mark.partition] = mark
    return RunMarks(live, {day: mark for day, mark in stopped.items() if day not in live})


def running_partitions(warehouse: Warehouse, days: Iterable[dt.date]) -> dict[dt.date, str]:
    """The days of ``days`` a live run is computing, with that run's id."""
    return run_marks(warehouse, days).live


def beat(warehouse: Warehouse, name: str, detail: str | None = None) -> dt.datetime:
    """Record a sign of life of ``name`` now; returns the time recorded."""
    warehouse.ensure_tables()
    beats = warehouse.table("heartbeats")
    now = _now()
    with warehouse.service(f"recording the heartbeat of {name}"), warehouse.engine.begin() as connection:
        insert = dialect_insert(connection)(beats).values(name=name, beat_at=now, detail=detail)
        connection.execute(
            insert.on_conflict_do_update(
                index_elements=["name"], set_={"beat_at": insert.excluded.beat_at, "detail": insert.excluded.detail}
            )
        )
    return now


def last_beat(warehouse: Warehouse, name: str) -> dt.datetime | None:
    """When ``name`` last showed a sign of life (None: never)."""
    found = last_beat_with_detail(warehouse, name)
    return None if found is None else found[0]


def last_beat_with_detail(warehouse: Warehouse, name: str) -> tuple[dt.datetime, str | None] | None:
    """When ``name`` last showed a sign of life and the detail it left (None: never)."""
    warehouse.ensure_tables()
    beats = warehouse.table("heartbeats")
    with warehouse.service(f"reading the heartbeat of {name}"), warehouse.engine.connect() as connection:
        row = connection.execute(sa.select(beats.c.beat_at, beats.c.detail).where(beats.c.name == name)).first()
    return None if row is None else (as_utc(row.beat_at), row.detail)
