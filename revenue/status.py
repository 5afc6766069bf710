"""Partition status: which days are materialized, warned, stale, missing or failed, and why.

Answered from the warehouse (the ledger and the published tables, three queries for a range)
and each day's current input (source fingerprints from one aggregate query, landed files from
the registry): no source row is read, and no Prefect API is needed. A landed file registered
but not read yet is read once (by this, or whichever run needs it first), to learn its days.

- materialized: the warehouse holds the day at its current input, gates passed.
- warned: the same, with a warning-level gate finding.
- stale: published, but the input changed since; ``detail`` names what changed (source rows,
  a new landed file, a landed file replaced).
- missing: never published, or its published rows are no longer in the warehouse.
- failed: the last attempt failed; ``detail`` is its cause. An earlier version, if any, is
  still published.

The backfill skips exactly the days this module calls current (materialized or warned), and
a run reports a cache hit only for them: the ledger, not the cache, says what is published.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from revenue.partitions import partition_range

if TYPE_CHECKING:
    from revenue.io.environment import Environment
    from revenue.io.partition_input import PartitionInput
    from revenue.io.warehouse import LedgerRow, PublishedDay

STATES: tuple[str, ...] = ("materialized", "warned", "stale", "missing", "failed")
CURRENT: tuple[str, ...] = ("materialized", "warned")
"""Held by the warehouse at the current input: what a backfill skips unless forced."""
SYMBOLS = {"materialized": "#", "warned": "!", "stale": "~", "missing": ".", "failed": "X"}


@dataclass(frozen=True)
class PartitionStatus:
    partition: dt.date
    state: str
    detail: str = ""


def classify(input: PartitionInput, published: PublishedDay | None) -> PartitionStatus:
    """The state of one partition from what the warehouse holds and its input now."""
    day = input.partition
    if published is None or not published.ledger:
        return PartitionStatus(day, "missing", "published rows without a ledger record" if published else "")
    rows = list(published.ledger.values())
    failed = [r for r in rows if r.status == "failed"]
    if failed:
        return PartitionStatus(day, "failed", _first_line(failed[0].error))
    versions = {r.published_fingerprint for r in rows}
    if None in versions:
        return PartitionStatus(day, "missing", "never published")
    if len(versions) > 1:
        return PartitionStatus(day, "stale", "its datasets were published from different inputs")
    [version] = versions
    if not published.holds(version):
        return PartitionStatus(day, "missing", _why_not_held(published, version))
    if version != input.fingerprint:
        return PartitionStatus(day, "stale", what_changed(rows[0], input))
    warned = sorted(r.dataset for r in rows if r.status == "warned")
    if warned:
        return PartitionStatus(day, "warned", "warnings in " + ", ".join(warned))
    return PartitionStatus(day, "materialized")


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
    return "; ".join(changes) or "input changed since it was published"


def _why_not_held(published: PublishedDay, version: str) -> str:
    if published.table_fingerprint is None:
        return "published rows are gone from the warehouse (daily_revenue has no row for the day)"
    if published.table_fingerprint != version:
        return "daily_revenue holds another version than the ledger records"
    return "customer_daily_spend rows do not match daily_revenue (rows deleted?)"


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0][:300] if (text or "").strip() else ""


def classify_range(env: Environment, inputs: Sequence[PartitionInput]) -> list[PartitionStatus]:
    """The state of each partition from the warehouse (three queries) and its input now."""
    if not inputs:
        return []
    days = sorted(i.partition for i in inputs)
    published = env.warehouse.published_days(days[0], days[-1])
    return [classify(i, published.get(i.partition)) for i in inputs]


def partition_statuses(config: str, start: dt.date, end: dt.date) -> list[PartitionStatus]:
    """Status of every partition in ``[start, end]`` for an environment (no source row read)."""
    from revenue.io.environment import environment
    from revenue.io.partition_input import plan_inputs

    env = environment(config)
    return classify_range(env, plan_inputs(env, partition_range(start, end)))


def counts(statuses: Iterable[PartitionStatus]) -> dict[str, int]:
    found = Counter(s.state for s in statuses)
    return {state: found.get(state, 0) for state in STATES}


def _weeks(statuses: Sequence[PartitionStatus]) -> list[list[PartitionStatus | None]]:
    """Rows of a Monday-first calendar covering the statuses' range."""
    by_day = {s.partition: s for s in statuses}
    first = statuses[0].partition - dt.timedelta(days=statuses[0].partition.weekday())
    weeks: list[list[PartitionStatus | None]] = []
    day = first
    while day <= statuses[-1].partition:
        weeks.append([by_day.get(day + dt.timedelta(days=i)) for i in range(7)])
        day += dt.timedelta(days=7)
    return weeks


def render_grid(statuses: Sequence[PartitionStatus]) -> str:
    """A terminal calendar grid: one cell per day, ``DD`` and a state symbol."""
    if not statuses:
        return "no partitions"
    header = "week of      " + " ".join(f"{name[:2]:>4}" for name in calendar.day_abbr)
    lines = [header]
    for week in _weeks(statuses):
        monday = next(s for s in week if s).partition
        monday -= dt.timedelta(days=monday.weekday())
        cells = [f"{s.partition.day:02d}{SYMBOLS[s.state]} " if s else "    " for s in week]
        lines.append(f"{monday.isoformat()}   " + " ".join(f"{c:>4}" for c in cells))
    legend = "  ".join(f"{SYMBOLS[s]} {s} {n}" for s, n in counts(statuses).items())
    lines += ["", legend]
    notes = [f"  {s.partition}: {s.state}: {s.detail}" for s in statuses if s.state in ("failed", "stale", "missing") and s.detail]
    return "\n".join(lines + notes)


def render_grid_markdown(statuses: Sequence[PartitionStatus]) -> str:
    """The same grid as a markdown table, for a Prefect artifact."""
    if not statuses:
        return "no partitions"
    lines = ["| week of | " + " | ".join(calendar.day_abbr) + " |", "|---" * 8 + "|"]
    for week in _weeks(statuses):
        monday = next(s for s in week if s).partition
        monday -= dt.timedelta(days=monday.weekday())
        cells = [f"{s.partition.day:02d} {s.state}" if s else "" for s in week]
        lines.append(f"| {monday.isoformat()} | " + " | ".join(cells) + " |")
    lines += ["", "| state | partitions |", "|---|---|"]
    lines += [f"| {state} | {n} |" for state, n in counts(statuses).items()]
    return "\n".join(lines)
