"""Healing: which days the landing watcher recomputes by itself, and how (pure decisions).

A day is *wanted* when the warehouse is behind its input (``PartitionStatus.behind_input``):
published from an input that changed since (source rows, a landed file's new version, an
order moved to or from it), failed on another input than today's, or never published once
its deadline passed (the cron did not run: a server down over a weekend). Only days inside
the horizon (default the grid's window, up to yesterday) with rows to compute, that no live
run computes, are wanted. A day edited or deleted in the warehouse outside the pipeline is
not: someone changed it, and ``revenue backfill`` puts it back when that was a mistake.

A wanted day is healed once its input has been quiet for the settle time: the watcher records
when it first saw each (day, input fingerprint) (``revenue.io.heal_log``), and a new version
of the input starts the wait again. Each need (day, input version, the day's last
attempted input) is claimed once, by one watcher, and started under an idempotency key made
of the day, its fingerprint and when that was first seen, so a second watcher, a restart or
a replay starts nothing new; a heal that failed on the day's data is tried again only when
the input changes, one that ended without publishing or failing it up to ``MAX_STARTS`` runs.
A few days are started as runs of the ``daily`` deployment (``heal-2026-03-05``);
``BATCH_FROM`` or more at once as one run of the ``backfill/range`` deployment over exactly
those days (``heal-2026-03-01..2026-03-20``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from revenue.deadline import due_at
from revenue.status import PartitionStatus
from revenue.transforms.fingerprint import fingerprint

SETTLE = dt.timedelta(seconds=60)
"""How long a day's input must stay unchanged before it is healed (the default)."""
BATCH_FROM = 3
"""Days healed at once from which one ``backfill/range`` run takes them all."""
SHOWN_HEALING_FOR = dt.timedelta(minutes=15)
"""How long a started heal whose run has not begun computing shows the day as running; after
that the day shows its own state with a note that the heal run has not published it."""
MAX_STARTS = 3
"""Runs started for one need at most: a run that ended without publishing the day or
recording its failure (crashed, cancelled by Ctrl-C of ``revenue dev``, failed on a database
outage after its retries) is started again, up to this many runs in all."""
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
HEALED_SHOWN_FOR = dt.timedelta(days=1)
"""How long a day a heal published is listed by the grid and ``revenue status`` with the run
that healed it."""
RESTART_AFTER = dt.timedelta(minutes=2)
"""A claim with no run recorded this long (its watcher died in between) is started again,
under the same idempotency key."""
HEAL_TAG = "heal"
DAILY_DEPLOYMENT = "daily-revenue/daily"
RANGE_DEPLOYMENT = "backfill/range"
REASON_LIMIT = 300


@dataclass(frozen=True)
class HealPolicy:
    """An environment's healing settings."""

    enabled: bool
    settle: dt.timedelta = SETTLE
    horizon_days: int = 56
    """Days up to yesterday (UTC) that are healed; older ones are shown stale, not healed."""
    deadline: str = "07:30"
    """A never-published day is caught up once its deadline (``alert_deadline``) has passed."""

    def horizon(self, today: dt.date) -> tuple[dt.date, dt.date]:
        yesterday = today - dt.timedelta(days=1)
        return yesterday - dt.timedelta(days=self.horizon_days - 1), yesterday


@dataclass(frozen=True)
class Wanted:
    """A day the warehouse is behind on, at the input it has now."""

    partition: dt.date
    fingerprint: str
    reason: str
    behind_of: str = ""
    """The input fingerprint of the day's last attempt ("" for none): a need is the pair."""


@dataclass(frozen=True)
class HealRequest:
    """One (day, input version) the watcher saw behind, as ``heal_requests`` holds it."""

    partition: dt.date
    fingerprint: str
    reason: str
    first_seen_at: dt.datetime
    claimed_at: dt.datetime | None = None
    run_key: str | None = None
    run_id: str | None = None
    run_name: str | None = None
    starts: int = 0
    """Runs started for this need: one, unless a run ended without publishing or failing the day."""
    behind_of: str = ""
    """The input fingerprint of the day's last attempt when this need was recorded."""


@dataclass(frozen=True)
class HealRun:
    """One flow run that heals some days."""

    deployment: str
    name: str
    key: str
    parameters: dict[str, Any]
    requests: tuple[HealRequest, ...]

    @property
    def days(self) -> list[dt.date]:
        return sorted(r.partition for r in self.requests)


def reason_of(status: PartitionStatus) -> str:
    """Why the day needs a recompute, in a few words (the grid shows ``<reason> -> healing``)."""
    if status.state == "failed":
        return "input changed since it failed"
    if status.state == "missing":
        return "never published"
    return (status.detail or "input changed")[:REASON_LIMIT]


def wanted(statuses: Iterable[PartitionStatus], policy: HealPolicy, now: dt.datetime) -> list[Wanted]:
    """The days to heal at their current input (a running day is never wanted: its run
    computes it; a day whose input was not planned neither)."""
    first, last = policy.horizon(now.date())
    found = []
    for status in statuses:
        if not (first <= status.partition <= last) or not status.behind_input or not status.has_orders:
            continue
        if status.fingerprint is None or status.state not in ("stale", "missing", "failed"):
            continue
        if status.state == "missing" and now < due_at(status.partition, policy.deadline):
            continue  # the cron publishes it by its deadline
        behind_of = status.attempted_fingerprint or ""
        found.append(Wanted(status.partition, status.fingerprint, reason_of(status), behind_of))
    return found


def settled(requests: Iterable[HealRequest], now: dt.datetime, settle: dt.timedelta) -> list[HealRequest]:
    """The requests not claimed yet whose input has been quiet for ``settle``."""
    return sorted(
        (r for r in requests if r.claimed_at is None and now - r.first_seen_at >= settle), key=lambda r: r.partition
    )


def stopped(requests: Iterable[HealRequest], states: dict[str, str]) -> list[HealRequest]:
    """The claimed requests, still wanted (so the day was neither published nor failed on
    this input: a failure recorded in the ledger makes it unwanted), whose run has ended
    (``states``: run id -> state type) and that may be started again (fewer than
    ``MAX_STARTS`` runs): crashed, cancelled, or failed before recording anything."""
    return [
        r
        for r in requests
        if r.claimed_at is not None and r.run_id and states.get(r.run_id) in FINAL and r.starts < MAX_STARTS
    ]


def heal_runs(config: str, claimed: Sequence[HealRequest], batch_from: int = BATCH_FROM) -> list[HealRun]:
    """The runs that heal ``claimed``: one ``daily`` run per day, or, from ``batch_from``
    days, one ``backfill/range`` run over exactly those days. Names and keys depend only on
    the days, their fingerprints and when those were first seen."""
    claimed = sorted(claimed, key=lambda r: r.partition)
    if not claimed:
        return []
    if len(claimed) < batch_from:
        return [
            HealRun(
                DAILY_DEPLOYMENT,
                f"heal-{r.partition}",
                f"heal-{config}-{r.partition}-{_version(r)}",
                {"partition_date": r.partition.isoformat(), "env": config},
                (r,),
            )
            for r in claimed
        ]
    first, last = claimed[0].partition, claimed[-1].partition
    version = fingerprint({"config": config, "days": [[r.partition, _version(r)] for r in claimed]})
    return [
        HealRun(
            RANGE_DEPLOYMENT,
            f"heal-{first}..{last}",
            f"heal-{config}-{first}..{last}-{version[:24]}",
            {
                "start": first.isoformat(),
                "end": last.isoformat(),
                "days": [r.partition.isoformat() for r in claimed],
                "env": config,
            },
            tuple(claimed),
        )
    ]


def _version(request: HealRequest) -> str:
    """The request's input version and when it was first seen: the same for every watcher
    that reads the row, new when the input comes back to a version healed before (or a
    rebuilt warehouse sees it again), so an old run's key never stands for a new need."""
    return f"{request.fingerprint[:24]}-{request.first_seen_at.timestamp():.6f}"


def with_heal(
    status: PartitionStatus,
    request: HealRequest | None,
    live_run: str | None,
    now: dt.datetime,
    run_state: str | None = None,
) -> PartitionStatus:
    """The day's status with its heal (the latest claimed request of the day) shown: running
    as ``<reason> -> healing`` while the heal run computes it or waits to start (up to
    ``SHOWN_HEALING_FOR``; never once ``run_state``, the run's state type, is final), and
    ``healed by <run>: <reason>`` once that run published it (for ``HEALED_SHOWN_FOR``)."""
    if request is None or request.claimed_at is None or request.fingerprint != status.fingerprint:
        return status
    named = request.run_name or "a heal run"
    if status.state in ("materialized", "warned") and request.run_id and request.run_id == status.run_id:
        if now - request.claimed_at > HEALED_SHOWN_FOR:
            return status
        healed = f"healed by {named}: {request.reason}"
        return replace(status, detail=f"{status.detail}; {healed}" if status.detail else healed, healed_by=named)
    healing = f"{request.reason} -> healing"
    if status.state == "running":
        return replace(status, detail=healing) if live_run is not None and live_run == request.run_id else status
    if status.state not in ("stale", "missing") or live_run is not None:
        return status
    if request.run_id is None:
        note = f"heal claimed {request.claimed_at:%Y-%m-%d %H:%M} UTC, its run not started yet (retrying)"
    elif run_state in FINAL:
        note = f"{named} ended {run_state.lower()} without publishing it"
    elif now - request.claimed_at <= SHOWN_HEALING_FOR:
        return replace(status, state="running", detail=healing, run_id=request.run_id)
    else:
        note = f"{named} started {request.claimed_at:%Y-%m-%d %H:%M} UTC has not published it"
    return replace(status, detail=f"{status.detail}; {note}" if status.detail else note)
