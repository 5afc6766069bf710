"""The ``daily_revenue`` flow: one day partition of orders to published revenue.

The partition comes from ``partition_date`` or, for scheduled runs, from the run's
scheduled start time (the UTC day before it), so retries and late starts process the
same day.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run

from flows.partition import (
    IO_RETRIES,
    DataError,
    PartitionOutcome,
    materialize_partition,
    materialize_partitions,
    plan_partitions,
    warm_up_quality_gates,
)
from revenue.io.environment import environment
from revenue.io.landed_files import LandedFileError
from revenue.io.landing import LandedFile, mark_error, resolve_landed
from revenue.io.partition_input import landed_split
from revenue.partitions import parse_partition, previous_utc_day

DEFAULT_CONFIG = "local"


def resolve_partition(partition_date: str | None) -> str:
    """``partition_date`` if given, else the UTC day before the run's scheduled start."""
    if partition_date:
        return parse_partition(partition_date).isoformat()
    scheduled = flow_run.scheduled_start_time
    if scheduled is None:
        raise ValueError("no partition_date given and the run has no scheduled start time")
    return previous_utc_day(scheduled).isoformat()


@task(name="landed_file", **IO_RETRIES)
def landed_file(config: str, landed_key: str) -> tuple[LandedFile, list]:
    """Resolve a landed file (inside the landing prefix only), read it once and return the
    days it touches. An unreadable file is marked under ``_errors/`` and fails the run
    with the key and the reason; rows no day can take are recorded there too."""
    env = environment(config)
    if env.landing is None:
        raise DataError(f"environment {config} has no landing block: cannot read {landed_key}")
    landed = resolve_landed(env.landing, landed_key)
    try:
        by_day, unassigned = landed_split(env, landed)
    except LandedFileError as error:
        mark_error(env.landing, landed, str(error))
        raise
    if len(unassigned):
        marker = mark_error(env.landing, landed, f"{len(unassigned)} row(s) have no usable order_date: "
                            + unassigned.to_json(orient="records"))
        get_run_logger().warning("landed file %s: %d row(s) without a usable order_date quarantined in %s",
                                 landed.uri, len(unassigned), marker)
    if not by_day:
        reason = f"landed file {landed.uri}: no row has a usable order_date"
        mark_error(env.landing, landed, reason)
        raise DataError(reason)
    return landed, sorted(by_day)


def run_landed_file(config: str, landed_key: str, force: bool) -> list[PartitionOutcome]:
    """Every day a landed file touches, as its own partition, concurrently."""
    landed, days = landed_file(config, landed_key)
    plan = plan_partitions(config, days, landed)
    outcomes = materialize_partitions(config, plan.to_compute, force)
    errors = [f"{o.partition}: {o.error}" for o in outcomes if o.outcome == "failed"]
    if errors:
        raise DataError(f"landed file {landed.uri}: {len(errors)} of {len(days)} partitions failed: " + "; ".join(errors))
    return outcomes


@flow(name="daily-revenue", log_prints=True)
def daily_revenue(
    partition_date: str | None = None,
    config: str = DEFAULT_CONFIG,
    force: bool = False,
    landed_key: str | None = None,
) -> list[PartitionOutcome]:
    """Publish one day's revenue (or every day a landed file touches): extract, clean,
    gate, aggregate, publish.

    Args:
        partition_date: the UTC day, ``YYYY-MM-DD``; default: the day before the run's
            scheduled start.
        config: name of the environment's ``revenue-pipeline`` block.
        force: recompute every stage, ignoring cached results.
        landed_key: a landed file (``s3://bucket/prefix/key`` or a key under the landing
            prefix); each UTC day in it is processed as its own partition.
    """
    warm_up_quality_gates()
    if landed_key:
        outcomes = run_landed_file(config, landed_key, force)
    else:
        partition = parse_partition(resolve_partition(partition_date))
        [planned] = plan_partitions(config, [partition]).to_compute
        outcomes = [materialize_partition(config, planned, force=force)]
    logger = get_run_logger()
    for outcome in outcomes:
        logger.info(
            "partition %s %s: revenue=%s orders=%s rejected=%s gates=%s",
            outcome.partition, outcome.outcome, outcome.revenue, outcome.order_count,
            outcome.rejected_count, outcome.gates,
        )
    return outcomes
