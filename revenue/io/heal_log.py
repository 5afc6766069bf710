"""The heal log: ``heal_requests`` in the warehouse, shared by every landing watcher.

Grain: one row per (``partition_date``, ``fingerprint``): a day the watcher saw behind its
input, at one version of that input. ``first_seen_at`` starts the settle time; a new input
version is a new row, so its wait starts again. ``behind_of`` is the input fingerprint of
the day's last attempt when the need was recorded: a claimed version wanted again after the
day was attempted since (another run published or failed it, or the input went back to this
version) is a new need, reopened: its wait starts again and it is claimed anew. An unclaimed
version no longer wanted (the input moved on before it settled) is forgotten, so a version
that comes back waits the settle time again. ``claimed_at``/``claimed_by`` say which watcher
took it (a conditional update: of two watchers, one claims it); ``run_key`` is the
idempotency key its run was started under, ``run_id``/``run_name`` the run, ``starts`` how
many runs were started for it. A claimed row is not claimed again (a heal that failed on the
day's data waits for the next input version), unless its run ended without publishing or
failing the day (crashed, cancelled, failed before recording anything): then it is reopened,
up to ``MAX_STARTS`` runs in all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from revenue.healing import HealRequest, Wanted
from revenue.io.warehouse.sql import as_date, as_utc, dialect_insert
from revenue.io.warehouse.types import TIMESTAMP

if TYPE_CHECKING:
    from revenue.io.warehouse.database import Warehouse

TABLE = "heal_requests"


def declare(metadata: sa.MetaData) -> None:
    """Add ``heal_requests`` to the warehouse's tables."""
    sa.Table(
        TABLE,
        metadata,
        sa.Column("partition_date", sa.Date, primary_key=True),
        sa.Column("fingerprint", sa.Text, primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("first_seen_at", TIMESTAMP, nullable=False),
        sa.Column("claimed_at", TIMESTAMP),
        sa.Column("claimed_by", sa.Text),
        sa.Column("run_key", sa.Text),
        sa.Column("run_id", sa.Text),
        sa.Column("run_name", sa.Text),
        sa.Column("behind_of", sa.Text),  # the day's last attempted input when recorded: a need is the pair
        sa.Column("starts", sa.Integer),  # runs started for this version (a crashed or cancelled one is started again)
    )


def _request(row: sa.Row[Any]) -> HealRequest:
    return HealRequest(
        partition=row.partition_date,
        fingerprint=row.fingerprint,
        reason=row.reason,
        first_seen_at=as_utc(row.first_seen_at),
        claimed_at=as_utc(row.claimed_at) if row.claimed_at is not None else None,
        run_key=row.run_key,
        run_id=row.run_id,
        run_name=row.run_name,
        starts=row.starts or 0,
        behind_of=row.behind_of or "",
    )


def _read(warehouse: Warehouse, start: dt.date, end: dt.date, claimed_only: bool = False) -> list[HealRequest]:
    table = warehouse.table(TABLE)
    query = sa.select(table).where(table.c.partition_date.between(start, end))
    if claimed_only:
        query = query.where(table.c.claimed_at.is_not(None))
    with warehouse.service("reading the heal log"), warehouse.engine.connect() as connection:
        return [_request(row) for row in connection.execute(query)]


def record_wanted(
    warehouse: Warehouse, wanted: Sequence[Wanted], now: dt.datetime, span: tuple[dt.date, dt.date] | None = None
) -> list[HealRequest]:
    """Record each (day, fingerprint) not seen before as first seen ``now``, forget the
    unclaimed versions of ``span`` (the days planned) that are no longer wanted (the input
    moved on: a version that comes back waits the settle time again), reopen a claimed one
    whose day was attempted since (``behind_of`` changed: a new need), and return the request
    of every one of ``wanted``. A few statements whatever the number of days."""
    warehouse.ensure_tables()
    table = warehouse.table(TABLE)
    keys = {(w.partition, w.fingerprint): w for w in wanted}
    with warehouse.service("recording the days to heal"), warehouse.engine.begin() as connection:
        if span is not None:
            gone = table.delete().where(table.c.partition_date.between(*span), table.c.claimed_at.is_(None))
            if keys:
                gone = gone.where(~sa.tuple_(table.c.partition_date, table.c.fingerprint).in_(list(keys)))
            connection.execute(gone)
        if wanted:
            rows = [
                {
                    "partition_date": w.partition,
                    "fingerprint": w.fingerprint,
                    "reason": w.reason,
                    "behind_of": w.behind_of,
                    "first_seen_at": now,
                }
                for w in wanted
            ]
            insert = dialect_insert(connection)(table).values(rows)
            connection.execute(insert.on_conflict_do_nothing(index_elements=["partition_date", "fingerprint"]))
    if not wanted:
        return []
    found = _read(warehouse, min(k[0] for k in keys), max(k[0] for k in keys))
    requests = [r for r in found if (r.partition, r.fingerprint) in keys]
    renewed = {
        (r.partition, r.fingerprint): r for r in requests if r.behind_of != keys[(r.partition, r.fingerprint)].behind_of
    }
    if renewed:
        reopen(warehouse, list(renewed.values()), now, {k: keys[k].behind_of for k in renewed})
        return record_wanted(warehouse, wanted, now)  # as the reopening left them (another watcher's or ours)
    return requests


def reopen(
    warehouse: Warehouse,
    requests: Sequence[HealRequest],
    now: dt.datetime,
    behind_of: dict[tuple[dt.date, str], str] | None = None,
) -> None:
    """Start each request's wait again, unclaimed (only if still as read: of two watchers
    reopening it, one does). ``behind_of``: a new need (the day was attempted since, from
    that input); its count of runs started begins again. Else its run ended without
    publishing or failing the day: the count is kept."""
    table = warehouse.table(TABLE)
    with warehouse.service("reopening days to heal"), warehouse.engine.begin() as connection:
        for request in requests:
            key = (request.partition, request.fingerprint)
            renewed = {} if behind_of is None else {"starts": 0, "behind_of": behind_of[key]}
            connection.execute(
                table.update()
                .where(
                    table.c.partition_date == request.partition,
                    table.c.fingerprint == request.fingerprint,
                    table.c.first_seen_at == request.first_seen_at,
                )
                .values(
                    first_seen_at=now,
                    claimed_at=None,
                    claimed_by=None,
                    run_key=None,
                    run_id=None,
                    run_name=None,
                    **renewed,
                )
            )


KEYS_PER_STATEMENT = 5_000
"""Requests per claim or update statement (two bound values each: SQLite allows 32,766)."""


def _keys(table: sa.Table, requests: Sequence[HealRequest]) -> Iterator[sa.ColumnElement[bool]]:
    """Conditions that select exactly the rows of ``requests`` (one per ``KEYS_PER_STATEMENT``)."""
    for first in range(0, len(requests), KEYS_PER_STATEMENT):
        batch = requests[first : first + KEYS_PER_STATEMENT]
        yield sa.tuple_(table.c.partition_date, table.c.fingerprint).in_([(r.partition, r.fingerprint) for r in batch])


def claim(warehouse: Warehouse, requests: Iterable[HealRequest], by: str, now: dt.datetime) -> list[HealRequest]:
    """Claim each request not claimed yet, in one conditional update (of two watchers
    claiming a day, the first to commit has it; the other's update finds it claimed);
    returns those this caller claimed."""
    requests = list(requests)
    if not requests:
        return []
    table = warehouse.table(TABLE)
    taken: set[tuple[dt.date, str]] = set()
    with warehouse.service("claiming days to heal"), warehouse.engine.begin() as connection:
        for keys in _keys(table, requests):
            updated = connection.execute(
                table.update()
                .where(keys, table.c.claimed_at.is_(None))
                .values(claimed_at=now, claimed_by=by, starts=sa.func.coalesce(table.c.starts, 0) + 1)
                .returning(table.c.partition_date, table.c.fingerprint)
            )
            taken.update((as_date(row.partition_date), row.fingerprint) for row in updated)
    return [replace(r, claimed_at=now, starts=r.starts + 1) for r in requests if (r.partition, r.fingerprint) in taken]


def assign(warehouse: Warehouse, requests: Iterable[HealRequest], key: str, name: str) -> list[HealRequest]:
    """Record the idempotency key and name of the run about to heal ``requests`` (before it
    is started: a watcher that stops right after starts it again under the same key)."""
    requests = list(requests)
    _update(warehouse, requests, run_key=key, run_name=name)
    return [replace(r, run_key=key, run_name=name) for r in requests]


def record_run(warehouse: Warehouse, requests: Iterable[HealRequest], run_id: str) -> None:
    """The run started for ``requests``."""
    _update(warehouse, list(requests), run_id=run_id)


def _update(warehouse: Warehouse, requests: Sequence[HealRequest], **values: str) -> None:
    """Set ``values`` on the rows of ``requests`` (one statement)."""
    if not requests:
        return
    table = warehouse.table(TABLE)
    with warehouse.service("recording a heal run"), warehouse.engine.begin() as connection:
        for keys in _keys(table, requests):
            connection.execute(table.update().where(keys).values(**values))


def unstarted(warehouse: Warehouse, start: dt.date, end: dt.date, before: dt.datetime) -> list[HealRequest]:
    """Claims of ``[start, end]`` made before ``before`` with no run recorded: their watcher
    stopped between the claim and the start (started again under the same key)."""
    warehouse.ensure_tables()
    return [r for r in _read(warehouse, start, end, claimed_only=True) if r.run_id is None and r.claimed_at < before]  # type: ignore[operator]


def latest_claims(warehouse: Warehouse, days: Sequence[dt.date]) -> dict[dt.date, HealRequest]:
    """The latest claimed request of each of ``days`` that has one (one query)."""
    if not days:
        return {}
    warehouse.ensure_tables()
    latest: dict[dt.date, HealRequest] = {}
    wanted = set(days)
    for request in sorted(_read(warehouse, min(days), max(days), claimed_only=True), key=lambda r: r.claimed_at):  # type: ignore[arg-type,return-value]
        if request.partition in wanted:
            latest[request.partition] = request
    return latest
