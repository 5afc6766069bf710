"""A backfill's preview: which days it would compute and why, computing nothing.

Grain: one ``PlannedDay`` per partition of the range. It is decided exactly as the backfill
flow decides (``plan_inputs`` + ``classify``: the same queries as its ``plan_partitions``
task, no row of an unchanged day read, nothing written):

- ``compute``: ``new`` (never published), ``stale: <what changed>`` (published at another
  input), ``failed before: <cause>``, or ``forced`` (current, but ``--force``);
- ``cache hit``: current, and the run was asked not to skip up-to-date days;
- ``skip``: current (the warehouse holds it at its input).

With ``partitions_per_run`` (a multi-run backfill), each day also names the chunk run it
goes to (``revenue.chunks``: the same cut the backfill makes); a chunk with nothing to
compute starts no run.

The estimate of a day is the stage durations its last attempt recorded in the ledger
(extract, clean, aggregate and their gates; publish is not recorded, so it is a floor); a
day with no record gets the median of the range's recorded days.

A reason quotes a cause or a landed file's key: the markdown escapes it and the terminal
text shows control characters as escapes (``revenue.untrusted``).
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from revenue.status import CURRENT, PartitionStatus, classify
from revenue.untrusted import markdown_text, one_line, terminal_text

if TYPE_CHECKING:
    from revenue.io.environment import Environment
    from revenue.io.warehouse.ledger import PublishedDay

Action = Literal["compute", "cache hit", "skip"]
"""What a backfill would do with a day."""
COMPUTE: Action = "compute"
CACHE_HIT: Action = "cache hit"
SKIP: Action = "skip"


@dataclass(frozen=True)
class Placement:
    """Which run of a multi-run backfill a day goes to."""

    number: int
    of: int
    label: str
    starts_run: bool
    """False: every day of the chunk is current, so the chunk starts no run."""

    def __str__(self) -> str:
        return f"chunk {self.number}/{self.of} ({self.label})" if self.starts_run else "no run (all current)"


@dataclass(frozen=True)
class PlannedDay:
    partition: dt.date
    action: Action
    reason: str
    estimate_ms: int | None = None
    """Recorded stage time of its last attempt, or the range's median (None: no history)."""
    chunk: Placement | None = None
    """Multi-run only: the chunk run the day goes to."""


def preview(
    env: Environment,
    start: dt.date,
    end: dt.date,
    force: bool = False,
    skip_up_to_date: bool = True,
    partitions_per_run: int = 0,
) -> list[PlannedDay]:
    """What ``backfill(start, end, force, skip_up_to_date, partitions_per_run)`` would do
    with each day now."""
    from revenue.io.partition_input import plan_inputs
    from revenue.partitions import partition_range

    inputs = plan_inputs(env, partition_range(start, end))
    from revenue.io.warehouse.ledger import published_days

    published = published_days(env.warehouse, start, end)
    recorded = {day: _recorded_ms(held) for day, held in published.items()}
    known = [ms for ms in recorded.values() if ms]
    typical = int(statistics.median(known)) if known else None
    days = []
    for planned in inputs:
        status = classify(planned, published.get(planned.partition))
        action, reason = _decide(status, force, skip_up_to_date)
        days.append(PlannedDay(planned.partition, action, reason, recorded.get(planned.partition) or typical))
    if 0 < partitions_per_run < len(days):
        days = _with_chunks(days, partitions_per_run)
    return days


def _with_chunks(days: list[PlannedDay], partitions_per_run: int) -> list[PlannedDay]:
    from dataclasses import replace

    from revenue.chunks import chunk_of, chunks_with_work, split_range

    chunks = split_range([d.partition for d in days], partitions_per_run)
    of = chunk_of(chunks)
    runs = chunks_with_work(chunks, {d.partition for d in days if d.action != SKIP})
    return [
        replace(d, chunk=Placement(of[d.partition].number, len(chunks), of[d.partition].label, of[d.partition] in runs))
        for d in days
    ]


def _decide(status: PartitionStatus, force: bool, skip_up_to_date: bool) -> tuple[Action, str]:
    if status.state in CURRENT:
        if force:
            return COMPUTE, "forced (current)"
        return (SKIP, "current") if skip_up_to_date else (CACHE_HIT, "current: its cached result is reused")
    if status.state == "missing":
        return COMPUTE, "new" + (f" ({status.detail})" if status.detail else "")
    if status.state == "failed":
        return COMPUTE, f"failed before: {status.detail}"
    return COMPUTE, f"{status.state}: {status.detail}" if status.detail else status.state


def _recorded_ms(held: PublishedDay) -> int | None:
    durations = [row.duration_ms for row in held.ledger.values() if row.duration_ms]
    return sum(durations) if durations else None


def render_text(days: list[PlannedDay], max_concurrency: int) -> str:
    """The plan as the terminal shows it: a line per day, then the totals and the estimate."""
    lines = [
        f"{d.partition}  {d.action:<9}  "
        + (f"{d.chunk}  " if d.chunk else "")
        + one_line(d.reason)
        + (f"  (~{d.estimate_ms} ms)" if d.action == COMPUTE and d.estimate_ms else "")
        for d in days
    ]
    lines.append(summary(days, max_concurrency))
    return terminal_text("\n".join(lines))


def render_markdown(days: list[PlannedDay], max_concurrency: int) -> str:
    """The plan as a markdown table (the ``backfill-plan`` artifact), reasons escaped."""
    if any(d.chunk for d in days):
        rows = "\n".join(
            f"| {d.partition} | {d.action} | {d.chunk} | {markdown_text(d.reason)} | {d.estimate_ms or ''} |"
            for d in days
        )
        head = "| day | action | run | why | estimate (ms) |\n|---|---|---|---|---|\n"
    else:
        rows = "\n".join(
            f"| {d.partition} | {d.action} | {markdown_text(d.reason)} | {d.estimate_ms or ''} |" for d in days
        )
        head = "| day | action | why | estimate (ms) |\n|---|---|---|---|\n"
    return head + rows + "\n\n" + summary(days, max_concurrency)


def summary(days: list[PlannedDay], max_concurrency: int) -> str:
    counts = {a: sum(d.action == a for d in days) for a in (COMPUTE, CACHE_HIT, SKIP)}
    work = [d.estimate_ms for d in days if d.action == COMPUTE]
    known = [ms for ms in work if ms]
    text = f"{counts[COMPUTE]} to compute, {counts[CACHE_HIT]} cache hits, {counts[SKIP]} skipped (current)"
    if work and len(known) == len(work):
        total = sum(known)
        text += (
            f"; estimated work {total / 1000:.1f} s (recorded stage times; publish not included), "
            f"about {total / 1000 / max(1, max_concurrency):.1f} s with {max_concurrency} at once"
        )
    elif work:
        text += "; no estimate: some days have no recorded stage times"
    placed = {d.chunk for d in days if d.chunk}
    if placed:
        runs = sum(p.starts_run for p in placed)
        text += f"; {runs} chunk run(s) of the backfill deployment, in parallel as the pool's workers take them" + (
            f" ({len(placed) - runs} chunk(s) all current: no run)" if len(placed) > runs else ""
        )
    return text
