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
    describe,
    PartitionOutcome,
    materialize_partition,
    materialize_partitions,
    plan_partitions,
    warm_up_quality_gates,
)
from revenue.errors import DataError
from revenue.io.environment import environment
from revenue.io.registry import READ, LandedVersion
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
def landed_file(config: str, landed_key: str) -> tuple[LandedVersion, list]:
    """Register the landed file (inside the landing prefix only) if the watcher has not,
    read it, and return the days whose input it changes: the days it has rows on and the
    days an earlier version of it had rows on. A file that cannot be read fails the run
    with the key and the reason (and a marker under ``_errors/``); rows no day can take are
    quarantined in ``landed_row_rejects`` and the rest of the file goes on."""
    env = environment(config)
    if env.landing is None:
        raise DataError(f"environment {config} has no landing block: cannot read {landed_key}")
    version = env.registry.register_landed_key(landed_key, by="run")
    registration = env.registry.registration(version)
    rejects = env.registry.rejects_of(version)
    if len(rejects):
        get_run_logger().warning(
            "landed file %s: %d row(s) belong to no partition and are quarantined in landed_row_rejects "
            "(landing %d): %s", version.uri, len(rejects), version.seq,
            "; ".join(f"line {r.line}: {r.reason}" for r in rejects.head(5).itertuples()),
        )
    if registration.read_status != READ:
        raise DataError(registration.error or f"landed file {version.uri}: {registration.read_status}")
    return version, env.registry.days_of_uri(version.uri)


def run_landed_file(config: str, landed_key: str, force: bool) -> list[PartitionOutcome]:
    """Every day a landed file touches, as its own partition, concurrently."""
    version, days = landed_file(config, landed_key)
    outcomes = materialize_partitions(config, plan_partitions(config, days), force)
    errors = [f"{o.partition}: {o.error}" for o in outcomes if o.outcome == "failed"]
    if errors:
        raise DataError(f"landed file {version.uri}: {len(errors)} of {len(days)} partitions failed: " + "; ".join(errors))
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
        outcomes = [materialize_partition(config, plan_partitions(config, [partition]), force=force)]
    logger = get_run_logger()
    for outcome in outcomes:
        logger.info("partition %s", describe(outcome))
    return outcomes
