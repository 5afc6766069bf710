"""The ``daily_revenue`` flow: one day partition of orders to published revenue.

The partition comes from ``partition_date`` or, for scheduled runs, from the run's
scheduled start time (the UTC day before it), so retries and late starts process the
same day.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run
from prefect.states import State

from flows.fan_out import fan_out
from flows.outcomes import describe, failed_run, first_line
from flows.partition import PartitionOutcome, plan_partitions
from flows.policies import IO_RETRIES
from flows.progress import RunProgress
from revenue.errors import DataError
from revenue.healing import HEAL_TAG
from revenue.io.environment import environment
from revenue.io.landing.versions import READ, REGISTERED_BY_RUN, LandedVersion
from revenue.partitions import parse_partition, previous_utc_day
from revenue.quality import warm_up_in_background
from revenue.untrusted import run_name_text

DEFAULT_ENV = "local"


def resolve_partition(partition_date: str | None) -> str:
    """``partition_date`` if given, else the UTC day before the run's scheduled start."""
    if partition_date:
        return parse_partition(partition_date).isoformat()
    scheduled = flow_run.scheduled_start_time
    if scheduled is None:
        raise ValueError("no partition_date given and the run has no scheduled start time")
    return previous_utc_day(scheduled).isoformat()


@task(name="landed_file", **IO_RETRIES)
def landed_file(env: str, landed_key: str) -> tuple[LandedVersion, list[dt.date]]:
    """Register the landed file (inside the landing prefix only) if the watcher has not,
    read it, and return the days whose input it changes: the days it has rows on and the
    days an earlier version of it had rows on. A file that cannot be read fails the run
    with the key and the reason (and a marker under ``_errors/``); rows no day can take are
    quarantined in ``landed_row_rejects`` and the rest of the file goes on."""
    resolved = environment(env)
    if resolved.landing is None:
        raise DataError(f"environment {env} has no landing block: cannot read {landed_key}")
    # this run is the file's run: a watcher listing the file later must not start another
    version = resolved.registry.register_landed_key(landed_key, by=REGISTERED_BY_RUN, announced=True)
    registration = resolved.registry.registration(version)
    rejects = resolved.registry.rejects_of(version)
    if len(rejects):
        get_run_logger().warning(
            "landed file %s: %d row(s) belong to no partition and are quarantined in landed_row_rejects "
            "(landing %d): %s",
            version.uri,
            len(rejects),
            version.seq,
            "; ".join(f"line {r.line}: {r.reason}" for r in rejects.head(5).itertuples()),
        )
    if registration.read_status != READ:
        raise DataError(registration.error or f"landed file {version.uri}: {registration.read_status}")
    return version, resolved.registry.days_of_uri(version.uri)


def run_name() -> str:
    """``daily-revenue-2026-03-05`` (the partition, scheduled runs included; ``heal-2026-03-05``
    for a run the landing watcher started to heal the day, tagged ``heal``) or
    ``landing-<file name>`` for a landed file's run: the name as ``run_name_text`` gives it
    (any character but those of ordinary file names percent-encoded, so a run name carries
    no markup or control character wherever Prefect or a notification shows it)."""
    parameters = flow_run.parameters or {}
    prefix = "heal" if HEAL_TAG in (getattr(flow_run, "tags", None) or []) else "daily-revenue"
    if parameters.get("landed_key"):
        return f"landing-{run_name_text(str(parameters['landed_key']).rstrip('/').rsplit('/', 1)[-1])}"
    try:
        return f"{prefix}-{resolve_partition(parameters.get('partition_date'))}"
    except Exception:  # an invalid date fails the run itself, with its reason
        return prefix


def failed_message(failed: list[PartitionOutcome], total: int, about: str = "") -> str:
    """The first line of a failed run's state: each failed day and its cause."""
    days = "; ".join(f"{o.partition} failed: {o.error}" for o in failed)
    tally = f" ({len(failed)} of {total} partitions failed)" if total > 1 else ""
    return f"{about}{days}{tally}"


@flow(name="daily-revenue", flow_run_name=run_name, log_prints=True)
def daily_revenue(
    partition_date: str | None = None,
    env: str = DEFAULT_ENV,
    force: bool = False,
    landed_key: str | None = None,
) -> list[PartitionOutcome] | State:
    """Publish one day's revenue (or every day a landed file touches): extract, clean,
    gate, aggregate, publish. The partition-status grid is refreshed when the run starts
    and when it ends; a failed day ends the run Failed, its state message naming the day
    and the cause.

    Args:
        partition_date: the UTC day, ``YYYY-MM-DD``; default: the day before the run's
            scheduled start.
        env: name of the environment's ``revenue-environment`` block.
        force: recompute every stage, ignoring cached results.
        landed_key: a landed file (``s3://bucket/prefix/key`` or a key under the landing
            prefix); each UTC day in it is processed as its own partition.
    """
    warm_up_in_background()
    about = ""
    if landed_key:
        try:
            version, days = landed_file(env, landed_key)
        except DataError as unreadable:  # its message names the file and the reason
            return failed_run(first_line(unreadable), unreadable)
        about = f"landed file {version.uri}: "
    else:
        try:
            days = [parse_partition(resolve_partition(partition_date))]
        except ValueError as invalid:  # a date that is no partition: the run says so, no traceback
            return failed_run(first_line(invalid), invalid)
    plan = plan_partitions(env, days)
    with RunProgress(env, days, plan) as progress:
        run = fan_out(progress, force, max_concurrency=4)
        outcomes = run.outcomes
    logger = get_run_logger()
    for outcome in outcomes:
        logger.info("partition %s", describe(outcome))
    failed = [o for o in outcomes if o.outcome == "failed"]
    if failed:
        message = failed_message(failed, len(outcomes), about)
        error = run.error_of(failed[0]) if len(failed) == 1 and not landed_key else DataError(message)
        return failed_run(message, error or DataError(message))
    return outcomes
