"""The per-partition code path, shared by the ``daily_revenue`` flow (one day or the days
of a landed file) and ``backfill``:

    plan_partitions                 one task run for every day of the run: inputs (source
                                    fingerprints, current landed files) and what the
                                    warehouse holds (no source row read)
    compute_partition, per day      cached on (task name, partition, input fingerprint);
                                    inside it the stages, each a task named after its
                                    dataset and gated by its quality suite:

        raw_orders -> cleaned_orders -> daily_revenue, customer_daily_spend -> publish

A partition's cache is used only where the warehouse holds the day at that input (the
status grid calls it current): a cached result never stands in for a missing publish.
If a file is registered for the day while it computes, the publish refuses and the
partition is recomputed from its new input. Tasks only wire the layers: the work is in
``revenue.stages``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.assets import add_asset_metadata, materialize
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.runtime import flow_run
from prefect.states import State
from prefect.tasks import exponential_backoff

from revenue import stages
from revenue.errors import InputSuperseded, ServiceUnavailableError, is_retryable
from revenue.io.environment import environment
from revenue.io.errors import naming_partitions
from revenue.io.partition_input import PartitionInput, plan_inputs
from revenue.quality.gate import GateResult, run_gate
from revenue.quality.render import artifact_key, render_markdown
from revenue.stages import PartitionOutcome
from revenue.status import CURRENT, classify_range

MAX_INPUT_ATTEMPTS = 5
"""How often a partition is recomputed when its input keeps changing while it computes."""


def retry_service_failures(task, task_run, state: State) -> bool:
    """Retry only what a retry can fix: a service that is down. Data errors fail at once."""
    try:
        state.result()
    except Exception as error:
        return is_retryable(error)
    return False


IO_RETRIES = dict(
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=1),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_service_failures,
)


def partition_cache_key(context: TaskRunContext, parameters: dict) -> str:
    """Task name + partition + input fingerprint: global across runs and machines."""
    return f"{context.task.name}-{parameters['partition']}-{parameters['input'].fingerprint}"


CACHED = dict(cache_key_fn=partition_cache_key, persist_result=True)
"""The partition's unit of caching: keyed on (name, partition, fingerprint), its small
result persisted in the environment's result storage (S3 in production)."""

STAGE = dict(cache_policy=NO_CACHE, persist_result=False)
"""Stages run only when the partition's cached unit misses, and hand DataFrames to the
next stage in memory: persisting 1M-row frames as Prefect results doubled a partition's
wall time and peak memory, and reloading them made cache hits slow (see the benchmark)."""


def _gate(dataset: str, frame: pd.DataFrame, partition: dt.date, parameters: Mapping[str, Any] | None) -> GateResult:
    """Validate and publish the result as a markdown artifact (the stage enforces it)."""
    result = run_gate(dataset, frame, partition, parameters)
    create_markdown_artifact(
        key=artifact_key(dataset),
        markdown=render_markdown(result),
        description=f"Quality gate of {dataset} for partition {partition.isoformat()}: {result.status}",
    )
    return result


@task(name="raw_orders", **STAGE, **IO_RETRIES)
def raw_orders(config: str, input: PartitionInput) -> stages.RawStage:
    """raw_orders: one row per source row of the day and per landed row, as extracted."""
    return stages.raw_orders(environment(config), input, _gate)


@task(name="cleaned_orders", **STAGE)
def cleaned_orders(partition: dt.date, raw: stages.RawStage) -> stages.CleanedStage:
    """cleaned_orders: one row per order_id; the rest quarantined with a reason."""
    return stages.cleaned_orders(partition, raw, _gate)


@task(name="daily_revenue", **STAGE)
def aggregates(partition: dt.date, cleaned: stages.CleanedStage) -> stages.AggregateStage:
    """daily_revenue (one row for the day) and customer_daily_spend (one row per customer),
    reconciled to each other."""
    return stages.aggregates(partition, cleaned, _gate)


@materialize("revenue://daily_revenue", name="publish", **STAGE, **IO_RETRIES)
def publish(
    config: str,
    input: PartitionInput,
    raw: stages.RawStage,
    cleaned: stages.CleanedStage,
    totals: stages.AggregateStage,
) -> PartitionOutcome:
    """Write the lake files, then replace the day in the warehouse in one transaction.

    Runs only after every gate passed. Lake keys are deterministic; the ledger rows
    (written in the same transaction as the tables) name the lake files.
    """
    env = environment(config)
    outcome = stages.publish(env, input, raw, cleaned, totals, _run_id())
    metadata = {"partition": input.partition.isoformat(), "fingerprint": input.fingerprint}
    for dataset, rows in (("daily_revenue", 1), ("customer_daily_spend", len(totals.spend)),
                          ("cleaned_orders", len(cleaned.cleaned))):
        for key in env.asset_keys(dataset):
            add_asset_metadata(key, {**metadata, "rows": rows})
    return outcome


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
    current: frozenset[dt.date] = field(default_factory=frozenset)
    """Days the warehouse holds at their current input: only their cache may be used."""


@task(name="plan_partitions", **IO_RETRIES)
def plan_partitions(config: str, partitions: list[dt.date], skip_up_to_date: bool = False) -> PartitionPlan:
    """Every partition's input and whether the warehouse holds it, for the whole list at
    once (a few queries, no source row read). With ``skip_up_to_date``, current
    partitions are skipped."""
    env = environment(config)
    with naming_partitions(partitions):
        inputs = plan_inputs(env, partitions)
        current = frozenset(s.partition for s in classify_range(env, inputs) if s.state in CURRENT)
    skipped = current if skip_up_to_date else frozenset()
    return PartitionPlan(
        to_compute=[i for i in inputs if i.partition not in skipped],
        up_to_date=[PartitionOutcome(i.partition.isoformat(), "up to date", fingerprint=i.fingerprint)
                    for i in inputs if i.partition in skipped],
        current=current,
    )


def _compute_tasks(config: str, force: bool) -> Callable[[PartitionInput, frozenset[dt.date]], Any]:
    """``compute_partition`` bound to the environment's result storage. A day the
    warehouse does not hold at its input (or ``force``) recomputes and overwrites the
    cached result; only a current day may be a cache hit."""
    storage = environment(config).result_storage
    cached = compute_partition.with_options(result_storage=storage)
    refreshing = compute_partition.with_options(result_storage=storage, refresh_cache=True)

    def choose(planned: PartitionInput, current: frozenset[dt.date]):
        return cached if planned.partition in current and not force else refreshing

    return choose


def outcome_of(partition: dt.date, state: State) -> PartitionOutcome:
    """A finished ``compute_partition`` run as an outcome; a failure becomes a ``failed``
    outcome with the first line of its reason (``superseded`` when its input changed while
    it computed)."""
    try:
        outcome = state.result()
    except InputSuperseded as change:
        return PartitionOutcome(partition.isoformat(), "superseded", error=str(change))
    except Exception as error:  # the task's own exception, with its message
        message = str(error) or type(error).__name__
        return PartitionOutcome(partition.isoformat(), "failed", error=message.splitlines()[0][:500])
    if state.name == "Cached":
        outcome = replace(outcome, outcome="cache hit")
    return outcome


def materialize_partition(config: str, plan: PartitionPlan, force: bool = False) -> PartitionOutcome:
    """One partition, in the calling flow run: its failure is raised as it happened."""
    [(outcome, state)] = _materialize(config, plan, force, max_concurrency=1)
    if outcome.outcome == "failed" and state is not None:
        state.result()  # re-raise the task's own exception
    return outcome


def materialize_partitions(
    config: str,
    plan: PartitionPlan,
    force: bool = False,
    max_concurrency: int = 4,
    on_outcome: Callable[[PartitionOutcome], None] | None = None,
) -> list[PartitionOutcome]:
    """Many partitions as concurrent task runs of the calling flow run, never more than
    ``max_concurrency`` in flight. A failing partition never stops the others: it comes
    back as a ``failed`` outcome. ``on_outcome`` is called as each one finishes."""
    return [outcome for outcome, _ in _materialize(config, plan, force, max_concurrency, on_outcome)]


def _materialize(
    config: str,
    plan: PartitionPlan,
    force: bool,
    max_concurrency: int,
    on_outcome: Callable[[PartitionOutcome], None] | None = None,
) -> list[tuple[PartitionOutcome, State | None]]:
    """Submit every planned partition; a partition whose input changed while it computed
    (``superseded``) is planned again and submitted with its new input (a new cache key),
    up to ``MAX_INPUT_ATTEMPTS`` times."""
    choose = _compute_tasks(config, force)
    pending = [(item, 1) for item in reversed(plan.to_compute)]
    in_flight: dict = {}
    finished: list[tuple[PartitionOutcome, State | None]] = []
    while pending or in_flight:
        while pending and len(in_flight) < max(1, max_concurrency):
            item, attempt = pending.pop()
            current = plan.current if attempt == 1 else frozenset()
            future = choose(item, current).submit(config, item.partition, item)
            in_flight[future.wrapped_future] = (item, attempt, future)
        done, _ = wait_futures(list(in_flight), return_when=FIRST_COMPLETED)
        for raw in done:
            item, attempt, future = in_flight.pop(raw)
            future.wait()  # done already: this records its final state on the future
            outcome = outcome_of(item.partition, future.state)
            if outcome.outcome == "superseded" and attempt < MAX_INPUT_ATTEMPTS:
                get_run_logger().info("%s: computing it again", outcome.error)
                [again] = plan_partitions(config, [item.partition]).to_compute
                pending.append((again, attempt + 1))
                continue
            if outcome.outcome == "superseded":
                outcome = replace(outcome, outcome="failed", error=(
                    f"partition {item.partition}: its input kept changing over {attempt} attempts ({outcome.error})"))
            finished.append((outcome, future.state))
            if on_outcome is not None:
                on_outcome(outcome)
    return sorted(finished, key=lambda pair: pair[0].partition)


@task(name="compute_partition", task_run_name="partition-{partition}", **CACHED)
def compute_partition(config: str, partition: dt.date, input: PartitionInput) -> PartitionOutcome:
    """Every stage of the partition, gated, then publish. Cached on (name, partition,
    input fingerprint). A failure is recorded in the ledger with its cause; a service that
    stays down and an input that changed while it computed are not (the flow plans the day
    again and submits it with its new input)."""
    env = environment(config)
    try:
        raw = raw_orders(config, input)
        cleaned = cleaned_orders(input.partition, raw)
        totals = aggregates(input.partition, cleaned)
        return publish.with_options(assets=_publish_assets(config))(config, input, raw, cleaned, totals)
    except (InputSuperseded, ServiceUnavailableError):
        raise
    except Exception as failure:
        try:
            stages.record_failure(env, input, _run_id(), failure)
        except Exception as error:  # the failure itself is what the run must report
            get_run_logger().warning("could not record the failure of %s in the ledger: %s", input.partition, error)
        raise


def warm_up_quality_gates() -> None:
    """Import Great Expectations (~5 s here) in the background while the first partition
    extracts, so the first gate does not wait for the import on the critical path."""
    import threading

    from revenue.quality import warm_up

    threading.Thread(target=warm_up, name="gx-warm-up", daemon=True).start()


def _run_id() -> str | None:
    return str(flow_run.id) if flow_run.id else None
