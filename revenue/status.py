"""Partition status: which days are materialized, warned, stale, missing or failed.

Answered from the warehouse's ledger and the range's fingerprints (aggregate queries:
no order rows are read), without the Prefect API.

- materialized: published, gates passed, source unchanged since.
- warned: published with a warning-level gate failure, source unchanged since.
- stale: published, but the source fingerprint changed since (late or edited orders).
- missing: never published.
- failed: the last attempt failed (a critical gate or an error); an earlier
  version, if any, is still published.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from revenue.io.warehouse import LedgerRow
from revenue.partitions import partition_range

if TYPE_CHECKING:
    from revenue.io.environment import Environment
    from revenue.io.partition_input import PartitionInput

STATES: tuple[str, ...] = ("materialized", "warned", "stale", "missing", "failed")
CURRENT: tuple[str, ...] = ("materialized", "warned")
"""Published at the current fingerprint: what a backfill skips unless forced."""
SYMBOLS = {"materialized": "#", "warned": "!", "stale": "~", "missing": ".", "failed": "X"}


@dataclass(frozen=True)
class PartitionStatus:
    partition: dt.date
    state: str
    detail: str = ""


def classify(partition: dt.date, rows: Sequence[LedgerRow], current_fingerprint: str) -> PartitionStatus:
    """The state of one partition from its ledger rows and its source fingerprint now."""
    if not rows:
        return PartitionStatus(partition, "missing")
    failed = [r for r in rows if r.status == "failed"]
    if failed:
        return PartitionStatus(partition, "failed", (failed[0].error or "").splitlines()[0][:120] if failed[0].error else "")
    if any(r.published_fingerprint is None for r in rows):
        return PartitionStatus(partition, "missing")
    if any(r.published_fingerprint != current_fingerprint for r in rows):
        return PartitionStatus(partition, "stale", "source changed since it was published")
    if any(r.status == "warned" for r in rows):
        warned = sorted(r.dataset for r in rows if r.status == "warned" and r.gate_status == "warned")
        return PartitionStatus(partition, "warned", "warnings in " + ", ".join(warned) if warned else "")
    return PartitionStatus(partition, "materialized")


def classify_range(env: Environment, inputs: Sequence[PartitionInput]) -> list[PartitionStatus]:
    """The state of each partition from the ledger (one query) and its fingerprint now."""
    if not inputs:
        return []
    days = sorted(i.partition for i in inputs)
    by_day = env.warehouse.ledger_by_day(days[0], days[-1])
    return [classify(i.partition, by_day.get(i.partition, []), i.fingerprint) for i in inputs]


def partition_statuses(config: str, start: dt.date, end: dt.date) -> list[PartitionStatus]:
    """Status of every partition in ``[start, end]`` for an environment: one ledger query
    and the range's fingerprints (aggregate queries; no order row is read)."""
    from revenue.io.environment import environment
    from revenue.io.partition_input import partition_inputs

    env = environment(config)
    return classify_range(env, partition_inputs(env, partition_range(start, end)))


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
    notes = [f"  {s.partition}: {s.state}: {s.detail}" for s in statuses if s.state in ("failed", "stale") and s.detail]
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
