"""A partition's input: the day's source rows, overlaid by its current landed files.

``plan_inputs`` says what each day of a range is computed from, without reading a source
row: one aggregate query for the source fingerprints, the landing registry's current files
of the range in landing order. A landing registered but not read yet is read first, once,
by a plan that reads (``read_pending``: runs and backfills; ``revenue status``, the grid and
the watcher do not): whoever plans first takes its read lease, reads it in a child process
within the read limits and records its days, or why it cannot be read; the others wait for
that record. A file that cannot be read fails its own days only (its on-landing run, a day
that needs its bytes), never the planning of the others.

The fingerprint of a partition is its source fingerprint when no file touches the day and
no order of the day counts elsewhere, else a digest of it, each current file's URI and ETag
in landing order, and the orders of the day that count on another day (``order_moves``):
it does not depend on the order any table lists them in, and changes when the source
changes, a file lands for the day, a file is replaced, or an order moves to or from the day.

An order's identity spans days (``revenue.transforms.identity``): computing a day looks up
the versions its orders have on other days (``other_versions``: the source by ``order_id``,
the landings by ``landed_orders``), and a day's publish records the edges it found, so the
day an order left is stale until it is recomputed (the run that moved it recomputes it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace

import pandas as pd
from sqlalchemy.engine import Connection

from revenue import contract
from revenue.catalog import DAILY_REVENUE
from revenue.errors import InputSuperseded
from revenue.io.environment import Environment
from revenue.io.landing.versions import LandedVersion
from revenue.io.warehouse.database import Guard
from revenue.io.warehouse.ledger import InputRecord, read_ledger
from revenue.io.warehouse.publish import moves_from
from revenue.transforms.clean import RawPart
from revenue.transforms.fingerprint import fingerprint
from revenue.transforms.identity import Move, edges_of, no_other_versions, typed_versions


@dataclass(frozen=True)
class PartitionInput:
    """What a partition is computed from: its source fingerprint and its landed files."""

    partition: dt.date
    source_fingerprint: str
    files: tuple[LandedVersion, ...] = ()
    moves: tuple[tuple[int, str], ...] = ()
    """(order_id, day) of the day's orders that count on another day, sorted."""
    source_rows: int | None = None
    """The day's rows in the source (None: not counted); not part of the fingerprint."""

    @property
    def has_orders(self) -> bool:
        """The day has rows to compute: in the source (or not counted) or in a landed file."""
        return bool(self.files) or self.source_rows is None or self.source_rows > 0

    @property
    def fingerprint(self) -> str:
        if not self.files and not self.moves:
            return self.source_fingerprint
        parts: dict[str, object] = {"source": self.source_fingerprint, "files": [[f.uri, f.etag] for f in self.files]}
        if self.moves:
            parts["moves"] = [list(m) for m in self.moves]
        return fingerprint(parts)

    def record(self) -> InputRecord:
        """The input as the ledger keeps it."""
        return InputRecord(
            fingerprint=self.fingerprint,
            source_fingerprint=self.source_fingerprint,
            files=tuple((f.seq, f.uri, f.etag) for f in self.files),
            moves=self.moves,
        )

    def with_moves(self, moves: Iterable[Move]) -> PartitionInput:
        """The input as computed: the orders of the day found counting on another day."""
        lost = tuple(sorted((m.order_id, m.to_day.isoformat()) for m in moves if m.from_day == self.partition))
        return replace(self, moves=lost)


def plan_inputs(env: Environment, partitions: list[dt.date], read_pending: bool = True) -> list[PartitionInput]:
    """The input of each partition, in the order given. No row of an unchanged day is
    read: only the days that changed since they were published (``changed_days``) are
    searched for orders that moved (``discovered_moves``: by ``order_id``, a few queries
    whatever the number of days).

    ``read_pending``: read the landings not read yet first (under their lease, within the
    read limits); False for what only shows status: a pending file is not in any day's
    input until a run reads it (``LandingRegistry.pending`` lists them)."""
    if not partitions:
        return []
    days = sorted(partitions)
    if read_pending and env.landing is not None:
        env.registry.read_pending()
    sources = env.source.fingerprints_and_rows(days)
    files = env.registry.current_files(days[0], days[-1])
    recorded = moves_from(env.warehouse, days[0], days[-1])
    inputs = [
        PartitionInput(day, sources[day][0], tuple(files.get(day, ())), source_rows=sources[day][1]) for day in days
    ]
    changed = changed_days(env, inputs)
    found = discovered_moves(env, changed)
    moves = {i.partition: merged_moves(i.partition, recorded.get(i.partition, ()), found, changed) for i in inputs}
    by_day = {i.partition: replace(i, moves=moves[i.partition]) for i in inputs}
    return [by_day[day] for day in partitions]


MAX_MISSING_DAYS_SEARCHED = 31
"""Days never published that planning searches for moved orders; past it (a first fill of
a long range), none: an order moved to a day never published counts on its old day until
the new day publishes, and that publish recomputes the old day."""


def changed_days(env: Environment, inputs: list[PartitionInput]) -> list[dt.date]:
    """The days whose rows may hold a new version of an order counted elsewhere: published
    days whose source rows or landed files changed since (or whose last attempt failed), and
    days never published (at most ``MAX_MISSING_DAYS_SEARCHED`` of them). One ledger query."""
    if not inputs:
        return []
    days = [i.partition for i in inputs]
    ledger = {
        r.partition_date: r for r in read_ledger(env.warehouse, min(days), max(days)) if r.dataset == DAILY_REVENUE.name
    }
    changed, missing = [], []
    for input in inputs:
        row = ledger.get(input.partition)
        if row is None or row.published_fingerprint is None:
            missing.append(input.partition)
        elif (
            row.status == "failed"
            or row.source_fingerprint != input.source_fingerprint
            or row.files() != [(f.seq, f.uri, f.etag) for f in input.files]
        ):
            changed.append(input.partition)
    return sorted(changed + (missing if len(missing) <= MAX_MISSING_DAYS_SEARCHED else []))


def discovered_moves(env: Environment, days: list[dt.date]) -> list[Move]:
    """The edges that touch ``days`` as their rows stand now: every version of every order
    they hold, wherever it is (the source and the current landings, by ``order_id``), and
    for each order an edge from each day holding a version to the day of its latest one.
    Four queries, whatever the number of days."""
    if not days:
        return []
    origin = f"source {env.source.label}"
    here = pd.concat(
        [typed_versions(env.source.versions_on(days), origin), env.registry.versions_on(days)], ignore_index=True
    )
    ids = sorted({int(i) for i in here["order_id"]})
    if not ids:
        return []
    touched = set(days)
    return [m for m in edges_of(versions_of(env, None, ids)) if m.from_day in touched or m.to_day in touched]


def versions_of(env: Environment, outside: dt.date | None, ids: list[int]) -> pd.DataFrame:
    """Every valid version of these orders (``OTHER_VERSION_COLUMNS``) on any day but
    ``outside`` (any day at all when None): the source's rows and the current landings',
    one query to each by ``order_id``."""
    found = [
        typed_versions(env.source.versions_elsewhere(outside, ids), f"source {env.source.label}"),
        env.registry.versions_elsewhere(outside, ids),
    ]
    found = [f for f in found if len(f)]
    return pd.concat(found, ignore_index=True) if found else no_other_versions()


def merged_moves(
    day: dt.date, recorded: tuple[tuple[int, str], ...], found: list[Move], changed: list[dt.date]
) -> tuple[tuple[int, str], ...]:
    """The day's orders that count elsewhere: the recorded edges, except those touching a
    changed day, which the edges found now replace."""
    fresh = set(changed)
    moves = {o: to for o, to in recorded if day not in fresh and dt.date.fromisoformat(to) not in fresh}
    moves.update({m.order_id: m.to_day.isoformat() for m in found if m.from_day == day})
    return tuple(sorted(moves.items()))


def still_current(env: Environment, input: PartitionInput) -> Guard:
    """A publish guard: refuses (``InputSuperseded``) when the day's current landed files
    or its source rows are no longer those ``input`` was computed from. Inside the publish
    transaction it runs under the day's lock, so an older input never replaces a newer one."""
    files = env.registry.guard(input.partition, input.files)

    def check(connection: Connection) -> None:
        files(connection)
        if env.source.fingerprints([input.partition])[input.partition] != input.source_fingerprint:
            raise InputSuperseded(input.partition, "source rows changed")

    return check


def extract_parts(env: Environment, input: PartitionInput) -> list[RawPart]:
    """The day's raw rows by origin: the source's, then each landed file's in landing order."""
    parts = [RawPart(f"source {env.source.label}", 0, env.source.extract(input.partition))]
    for version in input.files:
        parts.append(RawPart(version.uri, version.seq, env.registry.rows_for(version, input.partition)))
    return parts


def other_versions(env: Environment, input: PartitionInput, parts: list[RawPart]) -> pd.DataFrame:
    """The versions the day's orders have on other days (``OTHER_VERSION_COLUMNS``): the
    source's rows of the same ``order_id`` on other days, and the current landings'
    (``landed_orders``); two queries by id, whatever the number of days or files."""
    ids: set[int] = set()
    for part in parts:
        if len(part.rows) and "order_id" in part.rows.columns:
            typed, _ = contract.order_ids(part.rows["order_id"].reset_index(drop=True))
            ids.update(int(i) for i in typed.dropna().unique())
    return versions_of(env, input.partition, sorted(ids)) if ids else no_other_versions()


def published_orders_moved_away(env: Environment, partition: dt.date) -> bool:
    """Every order the day's published version counted (its published ``cleaned_orders``
    lake file) has a valid version on another day now: a day left with no rows because its
    orders moved, not because an extract broke. False when nothing was published."""
    from revenue.catalog import CLEANED_ORDERS
    from revenue.io.lake import read_partition

    try:
        published = read_partition(env, CLEANED_ORDERS.name, partition)
    except FileNotFoundError:
        return False
    ids = sorted({int(i) for i in published["order_id"]})
    if not ids:
        return False
    return set(ids) <= {int(i) for i in versions_of(env, partition, ids)["order_id"]}
