"""The partition grid: every day's state at a glance, as markdown (the ``partition-status``
Prefect artifact) and as text (``revenue status``).

One cell per day, Monday-first weeks, a colour per state:

    🟩 materialized  🟨 warned  🟧 stale  ⬜ missing  🟥 failed  🔵 running  · no data

then, for each failed, stale or missing day that has a cause, each running day and each
day whose last run stopped without finishing (shown in its published state) or that a heal
run published in the last day (``healed by heal-2026-03-04: source rows changed``), one line: the
day, the cause in plain words (cut to ``CAUSE_CHARS``, so the table fits the page; the run
has it whole) and the flow run to open; then the lineage of the datasets and when the
landing zone was last checked. Days before the first order (no data) are quiet cells: not
missing, never a line. Pure rendering: the statuses come from ``revenue.status``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from revenue.status import NO_DATA, PartitionStatus, State
from revenue.untrusted import markdown_link, markdown_text, one_line, terminal_text

STATES: tuple[State, ...] = ("materialized", "warned", "stale", "missing", "failed", "running", NO_DATA)
COLOURS = {
    "materialized": "🟩",
    "warned": "🟨",
    "stale": "🟧",
    "missing": "⬜",
    "failed": "🟥",
    "running": "🔵",
    NO_DATA: "·",
}
SYMBOLS = {
    "materialized": "#",
    "warned": "!",
    "stale": "~",
    "missing": ".",
    "failed": "X",
    "running": ">",
    NO_DATA: " ",
}
ATTENTION: tuple[str, ...] = ("failed", "stale", "missing", "running")
"""States that get a line of their own under the grid (when they have a cause)."""
MAX_LINES = 40
"""Lines under the grid at most (the oldest are summarised in one line)."""


@dataclass(frozen=True)
class RunLink:
    """A flow run as the grid links to it."""

    name: str
    url: str | None = None


@dataclass(frozen=True)
class GridContext:
    """What the grid says besides the days: where it comes from and the watcher's liveness."""

    environment: str
    updated_at: dt.datetime
    updated_by: str | None = None
    landing_checked_at: dt.datetime | None = None
    lineage: str | None = None
    """Markdown as it is: the caller escapes what it quotes (``flows.status_grid.lineage``)."""


def counts(statuses: Iterable[PartitionStatus]) -> dict[str, int]:
    found = Counter(s.state for s in statuses)
    return {state: found.get(state, 0) for state in STATES}


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def weeks(statuses: Sequence[PartitionStatus]) -> list[tuple[dt.date, list[PartitionStatus | None]] | None]:
    """Monday-first weeks holding at least one status, oldest first; ``None`` marks a gap
    of weeks with none (a day touched long before the window)."""
    by_day = {s.partition: s for s in statuses}
    mondays = sorted({_monday(day) for day in by_day})
    rows: list[tuple[dt.date, list[PartitionStatus | None]] | None] = []
    for index, monday in enumerate(mondays):
        if index and (monday - mondays[index - 1]).days > 7:
            rows.append(None)
        rows.append((monday, [by_day.get(monday + dt.timedelta(days=i)) for i in range(7)]))
    return rows


def _cell(status: PartitionStatus) -> str:
    orders = "" if status.order_count is None else f" · {_short(status.order_count)}"
    return f"{COLOURS[status.state]} {status.partition.day:02d}{orders}"


def _short(n: int) -> str:
    """10012 -> ``10k``, 1523 -> ``1.5k``, 999 -> ``999``."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M".replace(".0M", "M")
    if n >= 10_000:
        return f"{n // 1000}k"
    if n >= 1_000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    return str(n)


def attention(statuses: Sequence[PartitionStatus]) -> list[PartitionStatus]:
    """The days that need a look, newest first: failed, stale, missing with a cause, running,
    then any other day whose last run stopped without finishing, or that a heal run published
    in the last day (with that run)."""
    order = {state: i for i, state in enumerate(ATTENTION)}
    picked = [
        s
        for s in statuses
        if (s.state in ATTENTION and (s.detail or s.state == "running"))
        or s.stopped_at is not None
        or s.healed_by is not None
    ]
    return sorted(picked, key=lambda s: (order.get(s.state, len(ATTENTION)), -s.partition.toordinal()))


CAUSE_CHARS = 72
"""A cause longer than this is cut, with an ellipsis, in the grid's lines (the UI's table
then fits a laptop's page with the run link in sight; a terminal line stays readable);
the run's state message and the ledger have it whole."""


def _cut(text: str) -> str:
    """``text`` on one line, at most ``CAUSE_CHARS`` characters (``…`` where it was cut),
    control characters shown as escapes (``revenue.untrusted.one_line``)."""
    text = one_line(text)
    if len(text) > CAUSE_CHARS:
        text = text[: CAUSE_CHARS - 1].rstrip() + "…"
    return text


def _run(status: PartitionStatus, runs: Mapping[str, RunLink]) -> str:
    """The flow run of a line: its name linked to its page, its name, or its id's start.
    Names and causes come from landed files (a landing run is named after its file): they
    are escaped, and the only link is the one made here."""
    if not status.run_id:
        return ""
    link = runs.get(status.run_id)
    if link is None:
        return markdown_text(status.run_id[:8])
    return markdown_link(link.name, link.url) if link.url else markdown_text(link.name)


def render_markdown(
    statuses: Sequence[PartitionStatus], context: GridContext, runs: Mapping[str, RunLink] | None = None
) -> str:
    """The grid as a Prefect markdown artifact."""
    runs = runs or {}
    tally = counts(statuses)
    span = f"{statuses[0].partition} … {statuses[-1].partition}" if statuses else "no partitions"
    lines = [f"# Partition status · {markdown_text(context.environment)} · {span}", ""]
    about = [f"updated {context.updated_at:%Y-%m-%d %H:%M:%S} UTC"]
    if context.updated_by:
        about.append(f"by {markdown_text(context.updated_by)}")
    about.append(
        "landing zone last checked "
        + (
            f"{context.landing_checked_at:%Y-%m-%d %H:%M:%S} UTC"
            if context.landing_checked_at
            else "never (no watcher seen)"
        )
    )
    shown = {state: n for state, n in tally.items() if n or state != NO_DATA}
    lines += [" · ".join(about), "", " · ".join(f"{COLOURS[state]} {state} **{n}**" for state, n in shown.items()), ""]
    if statuses:
        lines += ["| week of | " + " | ".join(calendar.day_abbr) + " |", "|---" * 8 + "|"]
        for row in weeks(statuses):
            if row is None:
                lines.append("| ⋯ |" + " |" * 7)
                continue
            monday, days = row
            lines.append(f"| {monday.isoformat()} | " + " | ".join(_cell(s) if s else "" for s in days) + " |")
    needs = attention(statuses)
    if needs:
        lines += ["", "## Needs attention", "", "| day | state | cause | flow run |", "|---|---|---|---|"]
        for status in needs[:MAX_LINES]:
            cause = status.detail or ("computing now" if status.state == "running" else "")
            lines.append(
                f"| {status.partition} | {COLOURS[status.state]} {status.state} "
                f"| {markdown_text(cause, CAUSE_CHARS)} | {_run(status, runs)} |"
            )
        if len(needs) > MAX_LINES:
            lines.append(f"| … | | {len(needs) - MAX_LINES} more: `revenue status` lists them all | |")
    if context.lineage:
        lines += ["", f"Lineage: {context.lineage}"]
    return "\n".join(lines) + "\n"


def render_text(statuses: Sequence[PartitionStatus], landing_checked_at: dt.datetime | None = None) -> str:
    """The grid for a terminal: ``DD`` and a state symbol per day, the tally, then one line
    per day that needs a look (no control character of a cause or a key reaches the
    terminal: ``revenue.untrusted.terminal_text``)."""
    if not statuses:
        return "no partitions"
    lines = ["week of      " + " ".join(f"{name[:2]:>4}" for name in calendar.day_abbr)]
    for row in weeks(statuses):
        if row is None:
            lines.append("   ...")
            continue
        monday, days = row
        cells = [f"{s.partition.day:02d}{SYMBOLS[s.state]}" if s else "" for s in days]
        lines.append((f"{monday.isoformat()}   " + " ".join(f"{c:>4}" for c in cells)).rstrip())
    shown = {state: n for state, n in counts(statuses).items() if n or state != NO_DATA}
    lines += ["", "  ".join(f"{SYMBOLS[s]} {s} {n}" for s, n in shown.items())]
    if landing_checked_at is not None:
        lines.append(f"landing zone last checked {landing_checked_at:%Y-%m-%d %H:%M:%S} UTC")
    for status in attention(statuses):
        run = f" (flow run {one_line(status.run_id)})" if status.run_id else ""
        lines.append(f"  {status.partition}: {status.state}: {_cut(status.detail or 'computing now')}{run}")
    return terminal_text("\n".join(lines))
