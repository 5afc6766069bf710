"""The ``backfill`` flow: many partitions as concurrent tasks inside one flow run.

It reads top to bottom: the requested days, the plan (``plan_partitions``), the days fanned
out (``flows.fan_out``) while a ``RunProgress`` follows them (the grid, the progress
artifact, the terminal's bar), then the report (log tally, summary artifact, the run's end).

A subflow per day would cost seconds of orchestration each; a task costs milliseconds.
At most ``max_concurrency`` partitions run at once; one failing day never stops the
others, and the run ends Failed naming every failed day. A progress artifact moves as
partitions finish. Every artifact is markdown with what a landed file names escaped
(``revenue.untrusted``): the V1 UI renders a table artifact's cells as markdown too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner

from flows.backfill_runs import DeploymentMissing
from flows.daily_revenue import DEFAULT_ENV, failed_message
from flows.fan_out import fan_out
from flows.outcomes import failed_run
from flows.partition import PartitionOutcome, plan_partitions
from flows.progress import RunProgress
from revenue.io.environment import environment
from revenue.partitions import parse_partition, partition_range
from revenue.quality import warm_up_in_background
from revenue.untrusted import markdown_table, markdown_text, run_name_text

MAX_WORKERS = 32


class PartitionsFailed(Exception):
    """Some partitions of a backfill failed; the others were published."""

    def __init__(self, failed: list[PartitionOutcome], total: int) -> None:
        self.failed, self.total = failed, total
        super().__init__(failed_message(failed, total))

    def __reduce__(self) -> tuple[Any, ...]:  # failed runs' results are pickled: rebuild from the same arguments
        return (PartitionsFailed, (self.failed, self.total))


def publish_plan(
    config: str,
    start: dt.date,
    end: dt.date,
    force: bool,
    skip_up_to_date: bool,
    max_concurrency: int,
    partitions_per_run: int = 0,
) -> None:
    """The preview of a backfill as the ``backfill-plan`` artifact (nothing is computed)."""
    from revenue.backfill_plan import preview, render_markdown, summary

    days = preview(environment(config), start, end, force, skip_up_to_date, partitions_per_run)
    create_markdown_artifact(
        key="backfill-plan",
        markdown=f"# Backfill plan {start}..{end}\n\n" + render_markdown(days, max_concurrency),
        description=markdown_text(summary(days, max_concurrency), 500),
    )
    get_run_logger().info("plan %s..%s: %s", start, end, summary(days, max_concurrency))


def publish_summary(config: str, start: dt.date, end: dt.date, outcomes: list[PartitionOutcome]) -> None:
    """The run's per-partition summary table (the grid is ``partition-status``): markdown,
    each cell escaped (an error quotes landed files)."""
    rows = [
        {
            "partition": o.partition,
            "outcome": o.outcome,
            "revenue": None if o.revenue is None else f"{o.revenue:,.2f}",
            "order_count": o.order_count,
            "rejected": o.rejected_count,
            "gates": ", ".join(f"{k}: {v}" for k, v in o.gates.items()),
            "error": o.error or "",
        }
        for o in outcomes
    ]
    create_markdown_artifact(
        key="backfill-summary",
        markdown=f"# Backfill {start}..{end}\n\n" + markdown_table(rows),
        description=f"backfill {start}..{end} of {markdown_text(config)}",
    )


def checked_range(start: str, end: str, max_concurrency: int, partitions_per_run: int) -> list[dt.date]:
    """The days of ``[start, end]``; a ``ValueError`` naming the parameter that is not usable."""
    if not 1 <= max_concurrency <= MAX_WORKERS:
        raise ValueError(f"max_concurrency must be between 1 and {MAX_WORKERS}, not {max_concurrency}")
    if partitions_per_run < 0:
        raise ValueError(f"partitions_per_run must be 0 (one run) or a number of days, not {partitions_per_run}")
    return partition_range(parse_partition(start), parse_partition(end))


def backfill_run_name() -> str:
    """``backfill-2026-03-01..2026-03-20``, or ``heal-…`` for a run the landing watcher
    started to heal those days (tagged ``heal``)."""
    from prefect.runtime import flow_run

    from revenue.healing import HEAL_TAG

    parameters = flow_run.parameters or {}
    prefix = "heal" if HEAL_TAG in (flow_run.tags or []) else "backfill"
    return run_name_text(f"{prefix}-{parameters.get('start')}..{parameters.get('end')}")


def only(partitions: list[dt.date], days: list[str]) -> list[dt.date]:
    """The partitions named in ``days``; a ``ValueError`` for a day that is no date or
    outside the range."""
    wanted = {parse_partition(day) for day in days}
    outside = sorted(wanted - set(partitions))
    if outside:
        raise ValueError(f"days outside {partitions[0]}..{partitions[-1]}: {', '.join(map(str, outside))}")
    if not wanted:
        raise ValueError("days names no day")
    return [day for day in partitions if day in wanted]


def requested_days(
    start: str, end: str, max_concurrency: int, partitions_per_run: int, days: list[str] | None
) -> list[dt.date]:
    """The days the parameters ask for; a ``ValueError`` naming the parameter that is not usable."""
    partitions = checked_range(start, end, max_concurrency, partitions_per_run)
    if days is None:
        return partitions
    if partitions_per_run:
        raise ValueError("days and partitions_per_run cannot be combined: a chunk run computes its whole range")
    return only(partitions, days)


def report(
    config: str, start: str, end: str, partitions: list[dt.date], outcomes: list[PartitionOutcome]
) -> list[PartitionOutcome] | State:
    """The tally in the log, the ``backfill-summary`` artifact, and the run's end: Failed
    naming every failed day, else the outcomes."""
    tally: dict[str, int] = {}
    for outcome in outcomes:
        tally[outcome.outcome] = tally.get(outcome.outcome, 0) + 1
    get_run_logger().info("backfill %s..%s: %s", start, end, tally)
    publish_summary(config, partitions[0], partitions[-1], outcomes)
    failed = [o for o in outcomes if o.outcome == "failed"]
    if failed:
        error = PartitionsFailed(failed, len(outcomes))
        return failed_run(str(error), error)
    return outcomes


@flow(
    name="backfill",
    flow_run_name=backfill_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS),  # type: ignore[arg-type]  # Prefect's generics,
)
def backfill(
    start: str,
    end: str,
    env: str = DEFAULT_ENV,
    force: bool = False,
    max_concurrency: int = 4,
    skip_up_to_date: bool = True,
    plan_only: bool = False,
    partitions_per_run: int = 0,
    days: list[str] | None = None,
) -> list[PartitionOutcome] | State:
    """Materialize every partition from ``start`` to ``end`` (inclusive).

    Args:
        start: first UTC day, ``YYYY-MM-DD``.
        end: last UTC day, ``YYYY-MM-DD``.
        env: name of the environment's ``revenue-environment`` block.
        force: recompute every partition, ignoring the ledger and cached results.
        max_concurrency: partitions processed at the same time (1 to 32).
        skip_up_to_date: skip the partitions the warehouse holds at their current input
            (what ``revenue status`` calls materialized or warned).
        plan_only: compute nothing: write which days would run and why, with an estimate,
            as the ``backfill-plan`` artifact (``revenue backfill --plan`` in the terminal).
        partitions_per_run: 0 (the default): every partition is a task of this run. N: the
            range is cut into chunks of N days, each started as its own run of the backfill
            deployment, so the workers of the pool share it; this run waits for them and
            reports every day (a range of at most N days stays in this run).
        days: only these days of the range (``YYYY-MM-DD``; the landing watcher's heal
            runs name the days they heal); default: every day.
    """
    try:
        partitions = requested_days(start, end, max_concurrency, partitions_per_run, days)
    except ValueError as invalid:  # the run ends Failed saying which parameter, without a traceback
        return failed_run(str(invalid), invalid)
    per_run = partitions_per_run if 0 < partitions_per_run < len(partitions) else 0
    if plan_only:
        publish_plan(env, partitions[0], partitions[-1], force, skip_up_to_date, max_concurrency, per_run)
        return []
    if not per_run:
        warm_up_in_background()
    plan = plan_partitions(env, partitions, skip_up_to_date=skip_up_to_date and not force)
    try:
        with RunProgress(env, partitions, plan, backfill=True) as progress:
            run = fan_out(progress, force, max_concurrency, per_run, skip_up_to_date)
            outcomes = run.outcomes
    except DeploymentMissing as missing:  # the message says how to get the deployment
        return failed_run(str(missing), missing)
    return report(env, start, end, partitions, outcomes)
