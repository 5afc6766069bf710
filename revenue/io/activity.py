"""What is happening now, kept in the warehouse so every machine sees it: the partitions
being computed, and when long-lived processes (the landing watcher) last showed a sign of
life.

Tables (in the warehouse's schema) and their grain:

- ``partition_runs``: one row per (``partition_date``, ``run_id``) while that flow run
  computes the partition (``started_at``); removed when the attempt ends, whatever its end.
  A row older than ``RUNNING_FOR_AT_MOST`` is a run that died without cleaning up: the grid
  ignores it.
- ``heartbeats``: one row per ``name`` (``landing-watcher``): the last ``beat_at`` and a
  short ``detail`` (what the last pass saw). The watcher's listing cursor is one too
  (``landing-listing-cursor``: the greatest key listed, and when the prefix was last listed
  in full).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from revenue.io.warehouse import Warehouse, dialect_insert

log = logging.getLogger(__name__)

RUNNING_FOR_AT_MOST = dt.timedelta(hours=6)
"""A partition claimed for longer than this is not shown as running (its run died)."""
LANDING_WATCHER = "landing-watcher"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)  # SQLite drops the zone


@contextmanager
def running(warehouse: Warehouse, partition: dt.date, run_id: str | None) -> Iterator[None]:
    """Mark ``partition`` as computed by ``run_id`` for the duration of the block."""
    key = run_id or "local"
    warehouse.ensure_tables(partition)
    runs = warehouse.table("partition_runs")
    with warehouse.service("marking the partition as running", partition), warehouse.engine.begin() as connection:
        insert = dialect_insert(connection)(runs).values(partition_date=partition, run_id=key, started_at=_now())
        connection.execute(
            insert.on_conflict_do_update(
                index_elements=["partition_date", "run_id"], set_={"started_at": insert.excluded.started_at}
            )
        )
    try:
        yield
    finally:
        try:
            with warehouse.engine.begin() as connection:
                connection.execute(runs.delete().where(runs.c.partition_date == partition, runs.c.run_id == key))
        except Exception as error:  # never hide the attempt's own outcome behind this
            log.warning(
                "could not clear the running mark of %s (it expires after %s): %s",
                partition,
                RUNNING_FOR_AT_MOST,
                error,
            )


def running_partitions(warehouse: Warehouse, days: Iterable[dt.date]) -> dict[dt.date, str]:
    """The days of ``days`` a live run is computing, with that run's id."""
    days = sorted(set(days))
    if not days:
        return {}
    warehouse.ensure_tables()
    runs = warehouse.table("partition_runs")
    since = _now() - RUNNING_FOR_AT_MOST
    query = sa.select(runs.c.partition_date, runs.c.run_id, runs.c.started_at).where(
        runs.c.partition_date.between(days[0], days[-1])
    )
    with warehouse.service("reading the running partitions"), warehouse.engine.connect() as connection:
        rows = connection.execute(query).all()
    wanted = set(days)
    return {r.partition_date: r.run_id for r in rows if r.partition_date in wanted and _utc(r.started_at) >= since}


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
    return None if row is None else (_utc(row.beat_at), row.detail)
