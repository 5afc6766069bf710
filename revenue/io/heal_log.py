"""The heal log: ``heal_requests`` in the warehouse, shared by every landing watcher.

Grain: one row per (``partition_date``, ``fingerprint``): a day the watcher saw behind its
input, at one version of that input. ``first_seen_at`` starts the settle time; a new input
version is a new row, so its wait starts again. A version claimed before and wanted again
after another version of the day was seen (the input went back to it) is reopened: its wait
starts again and it is claimed anew. ``claimed_at``/``claimed_by`` say which
watcher took it (a conditional update: of two watchers, one claims it); ``run_key`` is the
idempotency key its run was started under, ``run_id``/``run_name`` the run, ``starts`` how
many runs were started for it. A claimed row is not claimed again (a heal that failed waits
for the next input version), unless its run crashed or was cancelled: then it is reopened,
up to ``MAX_STARTS`` runs in all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

import sqlalchemy as sa

from revenue.healing import HealRequest, Wanted
from revenue.io.warehouse import Warehouse, as_date, dialect_insert

TABLE = "heal_requests"


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _request(row) -> HealRequest:
    return HealRequest(
        partition=row.partition_date,
        fingerprint=row.fingerprint,
        reason=row.reason,
        first_seen_at=_utc(row.first_seen_at),  # type: ignore[arg-type]  # NOT NULL
        claimed_at=_utc(row.claimed_at),
        run_key=row.run_key,
        run_id=row.run_id,
        run_name=row.run_name,
        starts=row.starts or 0,
    )


def _read(warehouse: Warehouse, start: dt.date, end: dt.date, claimed_only: bool = False) -> list[HealRequest]:
    table = warehouse.table(TABLE)
    query = sa.select(table).where(table.c.partition_date.between(start, end))
    if claimed_only:
        query = query.where(table.c.claimed_at.is_not(None))
    with warehouse.service("reading the heal log"), warehouse.engine.connect() as connection:
        return [_request(row) for row in connection.execute(query)]


def record_wanted(warehouse: Warehouse, wanted: Sequence[Wanted], now: dt.datetime) -> list[HealRequest]:
    """Record each (day, fingerprint) not seen before as first seen ``now``, and return the
    request of every one of ``wanted`` (one insert, one select)."""
    if not wanted:
        return []
    warehouse.ensure_tables()
    table = warehouse.table(TABLE)
    with warehouse.service("recording the days to heal"), warehouse.engine.begin() as connection:
        insert = dialect_insert(connection)(table).values(
            [
                {"partition_date": w.partition, "fingerprint": w.fingerprint, "reason": w.reason, "first_seen_at": now}
                for w in wanted
            ]
        )
        connection.execute(insert.on_conflict_do_nothing(index_elements=["partition_date", "fingerprint"]))
    keys = {(w.partition, w.fingerprint) for w in wanted}
    found = _read(warehouse, min(k[0] for k in keys), max(k[0] for k in keys))
    requests = [r for r in found if (r.partition, r.fingerprint) in keys]
    reopened = [r for r in requests if _seen_again(r, found)]
    if reopened:
        reopen(warehouse, reopened, now, new_version=True)
        return record_wanted(warehouse, wanted, now)  # as the reopening left them (another watcher's or ours)
    return requests


def _seen_again(request: HealRequest, found: Sequence[HealRequest]) -> bool:
    """A claimed version wanted again after another version of its day was seen since the
    claim (the input went back to it): a new episode, healed again."""
    return request.claimed_at is not None and any(
        other.partition == request.partition
        and other.fingerprint != request.fingerprint
        and other.first_seen_at > request.claimed_at
        for other in found
    )


def reopen(warehouse: Warehouse, requests: Sequence[HealRequest], now: dt.datetime, new_version: bool = False) -> None:
    """Start each request's wait again, unclaimed (only if still as read: of two watchers
    reopening it, one does). ``new_version``: the input came back to it (its count of runs
    started begins again); else its run crashed or was cancelled (the count is kept)."""
    table = warehouse.table(TABLE)
    starts = {"starts": 0} if new_version else {}
    with warehouse.service("reopening days to heal"), warehouse.engine.begin() as connection:
        for request in requests:
            connection.execute(
                table.update()
                .where(
                    table.c.partition_date == request.partition,
                    table.c.fingerprint == request.fingerprint,
                    table.c.claimed_at == request.claimed_at,
                )
                .values(
                    first_seen_at=now,
                    claimed_at=None,
                    claimed_by=None,
                    run_key=None,
                    run_id=None,
                    run_name=None,
                    **starts,
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
