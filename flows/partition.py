"""The per-partition code path, shared by the ``daily_revenue`` flow (one day or the days
of a landed file) and ``backfill``:

    plan_partitions                 one task run for every day of the run: fingerprints,
                                    landed files, ledger check (no order row read)
    compute_partition, per day      cached on (task name, partition, fingerprint); inside
                                    it the stages, each a task named after its dataset and
                                    gated by its quality suite:

        raw_orders -> cleaned_orders -> daily_revenue, customer_daily_spend -> publish

An unchanged partition is one cache hit that reads none of its rows; a late order
changes the fingerprint and recomputes just that day. Tasks only wire the layers: SQL
lives in ``revenue.io``, pandas logic in ``revenue.transforms``.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field, replace

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.assets import add_asset_metadata, materialize
from prefect.context import TaskRunContext
from prefect.runtime import flow_run
from prefect.states import State
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from revenue.io.environment import Environment, environment
from revenue.io.lake import write_partition
from revenue.io.landed_files import LandedFileError
from revenue.io.landing import LandedFile, LandingKeyError
from revenue.io.partition_input import PartitionInput, extract_partition, partition_inputs
from revenue.io.warehouse import DatasetRecord, PartitionOutput
from revenue.quality.gate import GateResult, QualityGateFailed, enforce, run_gate
from revenue.quality.render import artifact_key, render_markdown
from revenue.quality.suites import reconciliation_parameters
from revenue.status import CURRENT, classify_range
from revenue.transforms.aggregate import customer_daily_spend, daily_revenue
from revenue.transforms.clean import MissingColumnsError, clean_orders


class DataError(Exception):
    """Input that no retry can fix (bad file, failed gate): never retried."""


NOT_RETRIED = (QualityGateFailed, DataError, MissingColumnsError, LandedFileError, LandingKeyError, LookupError, ValueError, TypeError)


def retry_io_only(task, task_run, state: State) -> bool:
    """Retry transient IO failures only; bad data fails at once."""
    try:
        state.result()
    except NOT_RETRIED:
        return False
    except Exception:
        return True
    return False


IO_RETRIES = dict(
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=1),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_io_only,
)


def partition_cache_key(context: TaskRunContext, parameters: dict) -> str:
    """Task name + partition + source fingerprint: global across runs and machines."""
    return f"{context.task.name}-{parameters['partition']}-{parameters['fingerprint']}"


CACHED = dict(cache_key_fn=partition_cache_key, persist_result=True)
"""The partition's unit of caching: keyed on (name, partition, fingerprint), its small
result persisted in the environment's result storage (S3 in production)."""

STAGE = dict(cache_policy=NO_CACHE, persist_result=False)
"""Stages run only when the partition's cached unit misses, and hand DataFrames to the
next stage in memory: persisting 1M-row frames as Prefect results doubled a partition's
wall time and peak memory, and reloading them made cache hits slow (see the benchmark)."""


@dataclass(frozen=True)
class GatedFrame:
    """A dataset's rows for one partition and the summary of its quality gate."""

    frame: pd.DataFrame
    gate: dict
    landed: tuple[tuple[str, str, int], ...] = ()
    """(uri, etag, rows) of landed files merged in (raw_orders only)."""


@dataclass(frozen=True)
class CleanedStage:
    cleaned: pd.DataFrame
    rejected: pd.DataFrame
    gate: dict


@dataclass(frozen=True)
class PartitionOutcome:
    """What happened to one partition in one run (small: safe to log and return)."""

    partition: str
    outcome: str  # published | cache hit | up to date | failed
    fingerprint: str | None = None
    revenue: float | None = None
    order_count: int | None = None
    rejected_count: int | None = None
    gates: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def _gate(dataset: str, frame: pd.DataFrame, partition: dt.date, parameters: dict | None = None) -> GateResult:
    """Validate, publish the result as a markdown artifact, then fail on a critical miss."""
    result = run_gate(dataset, frame, partition, parameters)
    create_markdown_artifact(
        key=artifact_key(dataset),
        markdown=render_markdown(result),
        description=f"Quality gate of {dataset} for partition {partition.isoformat()}: {result.status}",
    )
    return enforce(result)


@task(name="raw_orders", **STAGE, **IO_RETRIES)
def raw_orders(config: str, partition: dt.date, files: tuple[LandedFile, ...] = ()) -> GatedFrame:
    """raw_orders: one row per source row of the day, as extracted, with landed-file rows
    replacing source rows of the same order_id."""
    frame, landed = extract_partition(environment(config), partition, list(files))
    return GatedFrame(frame, _gate("raw_orders", frame, partition).summary(), tuple(landed))


@task(name="cleaned_orders", **STAGE)
def cleaned_orders(partition: dt.date, raw: GatedFrame) -> CleanedStage:
    """cleaned_orders: one row per order_id; the rest quarantined with a reason."""
    result = clean_orders(raw.frame, partition)
    gate = _gate("cleaned_orders", result.cleaned, partition)
    return CleanedStage(result.cleaned, result.rejected, gate.summary())


@task(name="daily_revenue", **STAGE)
def daily_revenue_stage(partition: dt.date, cleaned: CleanedStage) -> GatedFrame:
    """daily_revenue: one row for the day: revenue and order_count."""
    frame = daily_revenue(cleaned.cleaned, partition)
    expected = reconciliation_parameters(cleaned.cleaned)
    return GatedFrame(frame, _gate("daily_revenue", frame, partition, expected).summary())


@task(name="customer_daily_spend", **STAGE)
def customer_daily_spend_stage(partition: dt.date, cleaned: CleanedStage) -> GatedFrame:
    """customer_daily_spend: one row per (day, customer)."""
    return GatedFrame(customer_daily_spend(cleaned.cleaned, partition), {"status": "not gated"})


def publish_partition(
    env: Environment,
    partition: dt.date,
    fingerprint: str,
    run_id: str | None,
    raw: GatedFrame,
    cleaned: CleanedStage,
    revenue: GatedFrame,
    spend: GatedFrame,
) -> None:
    """Write the lake files, then replace the day in the warehouse in one transaction
    whose ledger rows name the lake files (the ``publish`` task's work, without Prefect)."""
    cleaned_file = write_partition(env.lake, "cleaned_orders", partition, cleaned.cleaned)
    revenue_file = write_partition(env.lake, "daily_revenue", partition, revenue.frame)
    output = PartitionOutput(
        partition=partition,
        fingerprint=fingerprint,
        run_id=run_id,
        daily_revenue=revenue.frame,
        customer_daily_spend=spend.frame,
        rejected=cleaned.rejected,
        datasets=(
            DatasetRecord("raw_orders", len(raw.frame), gate_status=raw.gate["status"], gate_summary=raw.gate),
            DatasetRecord(
                "cleaned_orders", len(cleaned.cleaned), len(cleaned.rejected),
                gate_status=cleaned.gate["status"], gate_summary=cleaned.gate,
                lake_uri=env.lake.uri(cleaned_file.key),
            ),
            DatasetRecord(
                "daily_revenue", len(revenue.frame), gate_status=revenue.gate["status"],
                gate_summary=revenue.gate, lake_uri=env.lake.uri(revenue_file.key),
            ),
            DatasetRecord("customer_daily_spend", len(spend.frame)),
        ),
        landed=raw.landed,
    )
    env.warehouse.publish(output)


@materialize("revenue://daily_revenue", name="publish", **STAGE, **IO_RETRIES)
def publish(
    config: str,
    partition: dt.date,
    fingerprint: str,
    raw: GatedFrame,
    cleaned: CleanedStage,
    revenue: GatedFrame,
    spend: GatedFrame,
) -> PartitionOutcome:
    """Write the lake files, then replace the day in the warehouse in one transaction.

    Runs only after every gate passed. Lake keys are deterministic; the ledger rows
    (written in the same transaction as the tables) name the lake files.
    """
    env = environment(config)
    publish_partition(env, partition, fingerprint, _run_id(), raw, cleaned, revenue, spend)
    row = revenue.frame.iloc[0]
    metadata = {"partition": partition.isoformat(), "fingerprint": fingerprint}
    for dataset, rows in (("daily_revenue", 1), ("customer_daily_spend", len(spend.frame)),
                          ("cleaned_orders", len(cleaned.cleaned))):
        for key in env.asset_keys(dataset):
            add_asset_metadata(key, {**metadata, "rows": rows})
    return PartitionOutcome(
        partition=partition.isoformat(),
        outcome="published",
        fingerprint=fingerprint,
        revenue=float(row["revenue"]),
        order_count=int(row["order_count"]),
        rejected_count=len(cleaned.rejected),
        gates={"raw_orders": raw.gate["status"], "cleaned_orders": cleaned.gate["status"],
               "daily_revenue": revenue.gate["status"]},
    )


def _publish_assets(config: str) -> list[str]:
    env = environment(config)
    keys: list[str] = []
    for dataset in ("daily_revenue", "customer_daily_spend", "cleaned_orders"):
        keys.extend(env.asset_keys(dataset))
    return keys


@dataclass(frozen=True)
class PartitionPlan:
    """What a run must compute, and the partitions it can skip."""

    to_compute: list[PartitionInput]
    up_to_date: list[PartitionOutcome]


@task(name="plan_partitions", **IO_RETRIES)
def plan_partitions(
    config: str,
    partitions: list[dt.date],
    landed: LandedFile | None = None,
    skip_up_to_date: bool = False,
) -> PartitionPlan:
    """Fingerprint every partition and find its landed files, for the whole list at once
    (a few aggregate queries, no order row read). With ``skip_up_to_date``, partitions
    whose ledger already holds this fingerprint are skipped (one ledger query)."""
    env = environment(config)
    inputs = partition_inputs(env, partitions, landed)
    current = _up_to_date(env, inputs) if skip_up_to_date else set()
    return PartitionPlan(
        to_compute=[i for i in inputs if i.partition not in current],
        up_to_date=[PartitionOutcome(i.partition.isoformat(), "up to date", fingerprint=i.fingerprint)
                    for i in inputs if i.partition in current],
    )


def _up_to_date(env: Environment, inputs: list[PartitionInput]) -> set[dt.date]:
    """Partitions the status grid shows as current (materialized or warned): published,
    no failed attempt since, at the fingerprint they have now."""
    return {s.partition for s in classify_range(env, inputs) if s.state in CURRENT}


def _compute_task(config: str, force: bool):
    """``compute_partition`` bound to the environment's result storage; ``force``
    recomputes and overwrites the cached result."""
    options = dict(refresh_cache=True) if force else {}
    return compute_partition.with_options(result_storage=environment(config).result_storage, **options)


def outcome_of(partition: dt.date, state: State) -> PartitionOutcome:
    """A finished ``compute_partition`` run as an outcome; a failure becomes a ``failed``
    outcome with the first line of its reason."""
    try:
        outcome = state.result()
    except Exception as error:  # the task's own exception, with its message
        message = str(error) or type(error).__name__
        return PartitionOutcome(partition.isoformat(), "failed", error=message.splitlines()[0][:500])
    if state.name == "Cached":
        outcome = replace(outcome, outcome="cache hit")
    return outcome


def materialize_partition(config: str, planned: PartitionInput, force: bool = False) -> PartitionOutcome:
    """One partition, in the calling flow run: its failure is raised as it happened."""
    state = _compute_task(config, force)(
        config, planned.partition, planned.fingerprint, planned.files, return_state=True
    )
    outcome = outcome_of(planned.partition, state)
    if outcome.outcome == "failed":
        state.result()  # re-raise the task's own exception
    return outcome


def materialize_partitions(
    config: str,
    planned: list[PartitionInput],
    force: bool = False,
    max_concurrency: int = 4,
    on_outcome: Callable[[PartitionOutcome], None] | None = None,
) -> list[PartitionOutcome]:
    """Many partitions as concurrent task runs of the calling flow run, never more than
    ``max_concurrency`` in flight. A failing partition never stops the others: it comes
    back as a ``failed`` outcome. ``on_outcome`` is called as each one finishes."""
    compute = _compute_task(config, force)
    pending = list(reversed(planned))
    in_flight: dict = {}
    outcomes: list[PartitionOutcome] = []
    while pending or in_flight:
        while pending and len(in_flight) < max(1, max_concurrency):
            item = pending.pop()
            future = compute.submit(config, item.partition, item.fingerprint, item.files)
            in_flight[future.wrapped_future] = (item.partition, future)
        done, _ = wait_futures(list(in_flight), return_when=FIRST_COMPLETED)
        for raw in done:
            day, future = in_flight.pop(raw)
            future.wait()  # done already: this records its final state on the future
            outcome = outcome_of(day, future.state)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    return sorted(outcomes, key=lambda o: o.partition)


@task(name="compute_partition", task_run_name="partition-{partition}", **CACHED)
def compute_partition(
    config: str, partition: dt.date, fingerprint: str, files: tuple[LandedFile, ...] = ()
) -> PartitionOutcome:
    """Every stage of the partition, gated, then publish. Cached on (name, partition,
    fingerprint): an unchanged partition is one cache hit that reads no rows and loads
    no DataFrames."""
    env = environment(config)
    try:
        raw = raw_orders(config, partition, files)
        cleaned = cleaned_orders(partition, raw)
        revenue = daily_revenue_stage(partition, cleaned)
        spend = customer_daily_spend_stage(partition, cleaned)
    except QualityGateFailed as failure:
        env.warehouse.record_failure(
            partition, fingerprint, _run_id(), str(failure),
            [DatasetRecord(failure.result.dataset, gate_status="failed", gate_summary=failure.result.summary())],
        )
        raise
    except (DataError, MissingColumnsError, LandedFileError, LandingKeyError) as failure:
        env.warehouse.record_failure(partition, fingerprint, _run_id(), str(failure), [DatasetRecord("raw_orders")])
        raise
    return publish.with_options(assets=_publish_assets(config))(
        config, partition, fingerprint, raw, cleaned, revenue, spend
    )


def warm_up_quality_gates() -> None:
    """Import Great Expectations (~5 s here) in the background while the first partition
    extracts, so the first gate does not wait for the import on the critical path."""
    import threading

    from revenue.quality import warm_up

    threading.Thread(target=warm_up, name="gx-warm-up", daemon=True).start()


def _run_id() -> str | None:
    return str(flow_run.id) if flow_run.id else None
