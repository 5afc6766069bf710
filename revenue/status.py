"""Partition status: which days are materialized, warned, stale, missing or failed, and why.

Answered from the warehouse (the ledger and the published tables, three queries for a range)
and each day's current input (source fingerprints from one aggregate query, landed files from
the registry, the orders that moved: ``plan_inputs``): no row of an unchanged day is read,
and no Prefect API is needed. No landed file is read
either: a file registered but not read yet is *pending* (``pending_files``, which ``revenue
status`` prints): its days are known once a run reads it, so a file that cannot be read never
stops the status of the days it is not on.

- materialized: the warehouse holds the day at its current input, gates passed.
- warned: the same, with a warning-level gate finding.
- stale: published, but the input changed since; ``detail`` names what changed (source rows,
  a new landed file, a landed file replaced: also when its new version is registered but
  not read yet, which is known without reading it). Also a day whose published totals were
  changed outside the pipeline (a manual fix, a restore of one table, a second writer):
  ``daily_revenue``'s revenue or order count differs from what the ledger recorded at its
  publish, or the sums of ``customer_daily_spend`` differ from them; ``detail`` names the
  numbers that differ.
- missing: never published, or its published rows are no longer in the warehouse.
- failed: the last attempt failed; ``detail`` is its cause. An earlier version, if any, is
  still published.
- no data (the grid and ``revenue status`` only, ``current_statuses``): a day before the
  first day any order exists for (the source's first ``order_date``, the first day of a
  landed file) that nothing was ever recorded for: not missing, nothing to compute.
- running: a live run computes it now (its mark in ``partition_runs`` has a recent
  heartbeat), or the landing watcher started a run that heals it and that run has not
  begun yet (``revenue.healing``: the detail reads ``source rows changed -> healing``).
  A day whose last run stopped without finishing (killed, crashed, cancelled: its
  heartbeat stopped) keeps the state of what is published, with ``stopped_at`` set and
  a note naming that run.

The backfill skips exactly the days this module calls current (materialized or warned), and
a run reports a cache hit only for them: the ledger, not the cache, says what is published.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from revenue.partitions import partition_range

if TYPE_CHECKING:
    from revenue.healing import HealRequest
    from revenue.io.environment import Environment
    from revenue.io.partition_input import PartitionInput
    from revenue.io.warehouse.ledger import LedgerRow, PublishedDay

State = Literal["materialized", "warned", "stale", "missing", "failed", "running", "no data"]
"""A partition's state (the module docstring says what each means)."""

NO_DATA: State = "no data"

CURRENT: tuple[State, ...] = ("materialized", "warned")
"""Held by the warehouse at the current input: what a backfill skips unless forced."""


@dataclass(frozen=True)
class PartitionStatus:
    partition: dt.date
    state: State
    detail: str = ""
    run_id: str | None = None
    """The flow run to open: the one computing it (running), that failed it (failed), or
    that published the version the warehouse holds."""
    order_count: int | None = None
    """Orders in the published version, when one is held."""
    revenue: Decimal | None = None
    """``daily_revenue.revenue`` of the published version, when one is held."""
    stopped_at: dt.datetime | None = None
    """Set when the day's last run (``run_id``) stopped without finishing: its last heartbeat."""
    fingerprint: str | None = None
    """The fingerprint of the day's input now (None: not planned)."""
    behind_input: bool = False
    """The warehouse is behind the day's input: never published, stale because its input
    changed since the publish, or failed on another input than today's. Not set for a day
    edited or deleted in the warehouse outside the pipeline: what a heal recomputes."""
    has_orders: bool = True
    """The day has rows to compute now (in the source or a landed file)."""
    attempted_fingerprint: str | None = None
    """The input fingerprint of the day's last attempt (published or failed), None if none:
    what the warehouse is behind from (a heal is needed anew when it changes)."""
    healed_by: str | None = None
    """The heal run that published the version held, within ``HEALED_SHOWN_FOR`` of its start
    (the grid lists the day with it)."""


def classify(input: PartitionInput, published: PublishedDay | None) -> PartitionStatus:
    """The state of one partition from what the warehouse holds and its input now."""
    status = _classify(input, published)
    behind = status.behind_input
    if status.state == "failed" and published is not None:  # failed on this input: retried when it changes
        behind = any(r.fingerprint != input.fingerprint for r in published.ledger.values() if r.status == "failed")
    attempts = sorted(published.ledger.values(), key=lambda r: r.attempted_at) if published is not None else []
    return replace(
        status,
        fingerprint=input.fingerprint,
        behind_input=behind,
        has_orders=input.has_orders,
        attempted_fingerprint=attempts[-1].fingerprint if attempts else None,
    )


def _classify(input: PartitionInput, published: PublishedDay | None) -> PartitionStatus:
    day = input.partition
    if published is None or not published.ledger:
        if published is None:
            return PartitionStatus(day, "missing", "", behind_input=True)
        return PartitionStatus(day, "missing", "published rows without a ledger record")
    rows = list(published.ledger.values())
    orders, revenue = published.table_order_count, published.table_revenue
    failed = [r for r in rows if r.status == "failed"]
    if failed:
        return PartitionStatus(day, "failed", first_line_of(failed[0].error), failed[0].run_id, orders, revenue)
    run_id = rows[0].run_id
    versions = {r.published_fingerprint for r in rows}
    if None in versions:
        return PartitionStatus(day, "missing", "never published", run_id, behind_input=True)
    if len(versions) > 1:
        mixed = "its datasets were published from different inputs"
        return PartitionStatus(day, "stale", mixed, run_id, orders, revenue, behind_input=True)
    [version] = versions
    assert version is not None  # None was answered above
    if not published.holds(version):
        edited = published.edited() if published.table_fingerprint == version else ""
        if edited:  # the version's rows are there, with numbers its publish did not write
            return PartitionStatus(day, "stale", edited, run_id, orders, revenue)
        return PartitionStatus(day, "missing", _why_not_held(published), run_id)
    if version != input.fingerprint:
        return PartitionStatus(day, "stale", what_changed(rows[0], input), run_id, orders, revenue, behind_input=True)
    warned = sorted(r.dataset for r in rows if r.status == "warned")
    if warned:
        return PartitionStatus(day, "warned", "warnings in " + ", ".join(warned), run_id, orders, revenue)
    return PartitionStatus(day, "materialized", "", run_id, orders, revenue)


def what_changed(published: LedgerRow, current: PartitionInput) -> str:
    """What differs between the input a ledger row was published from and the input now."""
    if published.source_fingerprint is None:
        return "input changed since it was published"
    changes = []
    if published.source_fingerprint != current.source_fingerprint:
        changes.append("source rows changed")
    before = {uri: (seq, etag) for seq, uri, etag in published.files()}
    now = {f.uri: (f.seq, f.etag) for f in current.files}
    changes += [f"new landed file {uri}" for uri in now if uri not in before]
    changes += [f"landed file {uri} replaced" for uri in now if uri in before and now[uri] != before[uri]]
    changes += [f"landed file {uri} no longer has rows for the day" for uri in before if uri not in now]
    changes += _moved_orders(published.moves(), current.moves)
    return "; ".join(changes) or "input changed since it was published"


def _moved_orders(before: list[tuple[int, str]], now: tuple[tuple[int, str], ...]) -> list[str]:
    """``order 17 now counts on 2026-05-02``, ``order 9 counts here again`` (at most 3 named)."""
    was, is_ = dict(before), dict(now)
    moved = [f"order {o} now counts on {day}" for o, day in sorted(is_.items()) if was.get(o) != day]
    back = [f"order {o} counts here again" for o in sorted(was) if o not in is_]
    changes = moved + back
    return changes[:3] + ([f"{len(changes) - 3} more orders moved"] if len(changes) > 3 else [])


def _why_not_held(published: PublishedDay) -> str:
    """Why the rows of a version the ledger says is published are not held."""
    if published.table_fingerprint is None:
        return "published rows are gone from the warehouse (daily_revenue has no row for the day)"
    return "daily_revenue holds another version than the ledger records"


def first_line_of(text: str | None, limit: int = 300) -> str:
    """The first line of a recorded message (a ledger error, a state message), at most
    ``limit`` characters; "" for none."""
    return (text or "").strip().splitlines()[0][:limit] if (text or "").strip() else ""


def classify_range(env: Environment, inputs: Sequence[PartitionInput]) -> list[PartitionStatus]:
    """The state of each partition from the warehouse (three queries) and its input now."""
    if not inputs:
        return []
    days = sorted(i.partition for i in inputs)
    from revenue.io.warehouse.ledger import published_days

    published = published_days(env.warehouse, days[0], days[-1])
    replaced = {v.uri for v in env.registry.pending()} if env.landing is not None else set()
    return [replaced_not_read(classify(i, published.get(i.partition)), i, replaced) for i in inputs]


def replaced_not_read(status: PartitionStatus, input: PartitionInput, pending_uris: set[str]) -> PartitionStatus:
    """A current day one of whose files has a newer version registered but not read yet is
    stale: nothing reads the new version to say so (status never reads a landed file), but
    the day's input is no longer the one published."""
    if status.state not in ("materialized", "warned"):
        return status
    replaced = [f.uri for f in input.files if f.uri in pending_uris]
    if not replaced:
        return status
    cause = "; ".join(f"landed file {uri} replaced (the new version is not read yet)" for uri in replaced)
    return replace(status, state="stale", detail=cause)


def partition_statuses(config: str, start: dt.date, end: dt.date) -> list[PartitionStatus]:
    """Status of every partition in ``[start, end]`` for an environment (no row of an
    unchanged day read)."""
    from revenue.io.environment import environment
    from revenue.io.partition_input import plan_inputs

    env = environment(config)
    return classify_range(env, plan_inputs(env, partition_range(start, end), read_pending=False))


def first_data_day(env: Environment) -> dt.date | None:
    """The first day any order exists for: the earlier of the source's first order and the
    first day a landed file has rows on; None when there is none (two small queries)."""
    found = [day for day in (env.source.first_order_day(), env.registry.first_day()) if day is not None]
    return min(found) if found else None


def pending_files(env: Environment) -> str:
    """A line saying which landed files are registered but not read yet ("" for none):
    they are not in any day's input until a run reads them (nothing is read here)."""
    if env.landing is None:
        return ""
    pending = env.registry.pending()
    if not pending:
        return ""
    named = ", ".join(v.uri for v in pending[:5]) + (f" and {len(pending) - 5} more" if len(pending) > 5 else "")
    return (
        f"{len(pending)} landed file(s) pending (registered, not read yet; their days are known "
        f"once a run reads them): {named}"
    )


def no_data_before(first: dt.date | None, statuses: Sequence[PartitionStatus]) -> list[PartitionStatus]:
    """``statuses`` with every day before ``first`` (every day when None) that nothing was
    ever recorded for (missing, with no ledger row and no published row) as no data."""

    def no_data(s: PartitionStatus) -> bool:
        return s.state == "missing" and not s.detail and not s.run_id and (first is None or s.partition < first)

    return [replace(s, state=NO_DATA) if no_data(s) else s for s in statuses]


def grid_days(env: Environment, touched: Iterable[dt.date] = (), today: dt.date | None = None) -> list[dt.date]:
    """The days the grid shows: the environment's last ``status_weeks`` weeks up to
    yesterday (UTC), every day ``touched``, and every day whose last attempt failed (a
    failure never drops out of sight until it is fixed)."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    yesterday = today - dt.timedelta(days=1)
    first = yesterday - dt.timedelta(weeks=env.block.status_weeks) + dt.timedelta(days=1)
    from revenue.io.warehouse.ledger import failed_partitions

    return sorted(set(partition_range(first, yesterday)) | set(touched) | set(failed_partitions(env.warehouse)))


def current_statuses(
    env: Environment,
    days: Sequence[dt.date],
    running: Iterable[dt.date] = (),
    run_id: str | None = None,
    known: Iterable[PartitionInput] = (),
) -> list[PartitionStatus]:
    """Every day's status, with the days a live run computes (from ``partition_runs``, and
    ``running``, the days the caller is about to compute as ``run_id``) shown as running,
    and the days whose last run stopped without finishing noted as such.
    ``known``: inputs the caller planned just now; only the other days are planned here."""
    from revenue.healing import with_heal
    from revenue.io.activity import run_marks
    from revenue.io.heal_log import latest_claims
    from revenue.io.partition_input import plan_inputs

    wanted = set(days)
    given = {i.partition: i for i in known if i.partition in wanted}
    planned = {i.partition: i for i in plan_inputs(env, [d for d in days if d not in given], read_pending=False)}
    statuses = classify_range(env, [given.get(day) or planned[day] for day in days])
    statuses = no_data_before(first_data_day(env), statuses)
    marks = run_marks(env.warehouse, days)
    live = {**marks.live, **{day: run_id for day in running}}
    stopped = {day: mark for day, mark in marks.stopped.items() if day not in live}
    statuses = [
        _running(s, live[s.partition])
        if s.partition in live
        else _stopped(s, stopped[s.partition].run_id, stopped[s.partition].beat_at)
        if s.partition in stopped
        else s
        for s in statuses
    ]
    heals = latest_claims(env.warehouse, days)
    states = heal_run_states(statuses, heals, live)
    now = dt.datetime.now(dt.timezone.utc)
    shown = []
    for status in statuses:
        heal = heals.get(status.partition)
        state = states.get(heal.run_id) if heal is not None and heal.run_id else None
        shown.append(with_heal(status, heal, live.get(status.partition), now, state))
    return shown


def heal_run_states(
    statuses: Sequence[PartitionStatus], heals: dict[dt.date, HealRequest], live: dict[dt.date, str | None]
) -> dict[str, str]:
    """The state of each heal run whose day it has not published and no live run computes
    (one API call, only when there is one): a run that ended is no longer shown healing.
    Without the API (``revenue status`` of an embedded default, an outage), none."""
    from revenue.io.flow_runs import run_states

    pending = [
        heals[s.partition].run_id
        for s in statuses
        if s.partition in heals and s.state in ("stale", "missing") and s.partition not in live
    ]
    if not any(pending):
        return {}
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:  # no server to ask (and none worth starting for this)
        return {}
    try:
        return run_states(pending)
    except Exception:  # noqa: BLE001 - shown as healing for a while, then as not published
        return {}


def _running(status: PartitionStatus, run_id: str | None) -> PartitionStatus:
    detail = f"computing now (was {status.state}{': ' + status.detail if status.detail else ''})"
    return replace(status, state="running", detail=detail, run_id=run_id)


def _stopped(status: PartitionStatus, run_id: str, beat_at: dt.datetime) -> PartitionStatus:
    """The day as published, noting the run that stopped computing it without finishing."""
    note = f"run {run_id[:8]} stopped unfinished at {beat_at:%Y-%m-%d %H:%M} UTC"  # fits the grid's line
    detail = f"{status.detail}; {note}" if status.detail else note
    return replace(status, detail=detail, run_id=run_id, stopped_at=beat_at)
