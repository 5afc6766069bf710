"""The per-partition code path, shared by the ``daily_revenue`` flow (one day or the days
of a landed file) and ``backfill``:

    plan_partitions                 one task run for every day of the run: inputs (source
                                    fingerprints, current landed files) and what the
                                    warehouse holds (no row of an unchanged day read)
    compute_partition, per day      one task run, cached on (task name, partition, input
                                    fingerprint); inside it the stages run as plain calls
                                    (``revenue.stages``), each gated by its quality suite:

        raw_orders -> cleaned_orders -> daily_revenue, customer_daily_spend -> publish

A partition's task run writes one quality artifact (``quality-YYYY-MM-DD``: its stages'
rows, time and gate outcome, then every gate's expectations) and the asset events of what
it published, with their lineage (orders -> cleaned_orders -> daily_revenue,
customer_daily_spend). Per stage task runs and per gate artifacts cost the Prefect server
more than the work of a 10k-order partition, so they are not made.

A partition's cache is used only where the warehouse holds the day at that input (the
status grid calls it current: its tables still hold the totals the ledger recorded at its
publish): a cached result never stands in for a missing or edited publish, and a cache hit
reports the revenue and order count the warehouse holds (read by ``plan_partitions``), not
the cached ones.
If a file is registered for the day while it computes, the publish refuses and the flow
plans the day again and computes it from its new input.

The tasks are thin: the work is ``revenue.stages`` (plain functions, importable without
Prefect, which the benchmark runs bare); retry and cache options are ``flows.policies``,
the artifact and asset events ``flows.partition_records``, outcome mapping ``flows.outcomes``.
Partitions fan out with Prefect's futures (``submit`` and ``as_completed``), never more than
``max_concurrency`` in flight.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from prefect import get_run_logger, task
from prefect.context import TaskRunContext
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run
from prefect.states import Failed, State

from flows.alert_events import emit_failed, emit_published, resolve
from flows.outcomes import describe, first_line, outcome_of
from flows.partition_records import emit_asset_events, quality_artifact
from flows.policies import CACHED, IO_RETRIES
from revenue import stages
from revenue.errors import InputSuperseded, ServiceUnavailableError
from revenue.io.activity import running
from revenue.io.environment import environment
from revenue.io.errors import naming_partitions
from revenue.io.partition_input import PartitionInput, plan_inputs
from revenue.quality.gate import GateResult, run_gate
from revenue.stages import PartitionOutcome
from revenue.status import CURRENT, classify_range

MAX_INPUT_ATTEMPTS = 5
"""How often a partition is recomputed when its input keeps changing while it computes."""


@dataclass(frozen=True)
class PartitionPlan:
    """What a run must compute, and the partitions it can skip."""

    to_compute: list[PartitionInput]
    up_to_date: list[PartitionOutcome]
    current: frozenset[dt.date] = field(default_factory=frozenset)
    """Days the warehouse holds at their current input: only their cache may be used."""
    inputs: tuple[PartitionInput, ...] = ()
    """Every planned day's input (computed or skipped)."""
    previous: dict[dt.date, str] = field(default_factory=dict)
    """Each planned day's state before the run (``failed``, ``missing``, ...): publishing a
    failed day, or a missing one past its deadline, resolves an alert."""
    held: dict[dt.date, tuple[Decimal | None, int | None]] = field(default_factory=dict)
    """(revenue, order count) the warehouse holds for each current day: what its cache hit reports."""

    def held_inputs(self, outcomes: list[PartitionOutcome]) -> list[PartitionInput]:
        """The planned inputs the run left the warehouse holding: days published or up to
        date at the planned fingerprint (a day whose input changed meanwhile is not one)."""
        held = {(o.partition, o.fingerprint) for o in outcomes if o.outcome in ("published", "cache hit", "up to date")}
        moved = {day for o in outcomes for day in o.displaced}  # an order moved to or from it meanwhile
        return [
            i
            for i in self.inputs
            if (i.partition.isoformat(), i.fingerprint) in held and i.partition.isoformat() not in moved
        ]


def _plan_run_name() -> str:
    from prefect.runtime import task_run

    days = sorted(task_run.parameters.get("partitions") or [])
    if not days:
        return "plan"
    return f"plan-{days[0]}" if len(days) == 1 else f"plan-{days[0]}..{days[-1]}"


@task(name="plan_partitions", task_run_name=_plan_run_name, **IO_RETRIES)
def plan_partitions(config: str, partitions: list[dt.date], skip_up_to_date: bool = False) -> PartitionPlan:
    """Every partition's input and whether the warehouse holds it, for the whole list at
    once (a few queries, no row of an unchanged day read). With ``skip_up_to_date``, current
    partitions are skipped."""
    env = environment(config)
    with naming_partitions(partitions):
        inputs = plan_inputs(env, partitions)
        statuses = classify_range(env, inputs)
    current = frozenset(s.partition for s in statuses if s.state in CURRENT)
    skipped = current if skip_up_to_date else frozenset()
    return PartitionPlan(
        to_compute=[i for i in inputs if i.partition not in skipped],
        up_to_date=[
            PartitionOutcome(i.partition.isoformat(), "up to date", fingerprint=i.fingerprint)
            for i in inputs
            if i.partition in skipped
        ],
        current=current,
        inputs=tuple(inputs),
        previous={s.partition: s.state for s in statuses},
        held={s.partition: (s.revenue, s.order_count) for s in statuses if s.partition in current},
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
    return [outcome for outcome, _ in materialize_with_states(config, plan, force, max_concurrency, on_outcome)]


def materialize_with_states(
    config: str,
    plan: PartitionPlan,
    force: bool,
    max_concurrency: int,
    on_outcome: Callable[[PartitionOutcome], None] | None = None,
) -> list[tuple[PartitionOutcome, State | None]]:
    """Every planned partition's outcome with its task run's final state (see
    ``failure_of``). A partition whose input changed while it computed
    (``superseded``) is planned again and submitted with its new input (a new cache key),
    up to ``MAX_INPUT_ATTEMPTS`` times."""
    choose = _compute_tasks(config, force)
    pending = [(item, 1) for item in reversed(plan.to_compute)]
    in_flight: dict[PrefectFuture[Any], tuple[PartitionInput, int]] = {}
    finished: list[tuple[PartitionOutcome, State | None]] = []
    followed: dict[dt.date, int] = {}

    def follow(outcome: PartitionOutcome) -> None:
        """Days an order moved to or from by this publish: planned and computed by this run
        too, unless they are queued or computing already (each at most MAX_INPUT_ATTEMPTS)."""
        busy = {i.partition for i, _ in pending} | {i.partition for i, _ in in_flight.values()}
        days = [
            d
            for d in map(dt.date.fromisoformat, outcome.displaced)
            if d not in busy and followed.get(d, 0) < MAX_INPUT_ATTEMPTS
        ]
        if not days:
            return
        get_run_logger().info(
            "partition %s: orders moved to or from %s: computing %s too",
            outcome.partition,
            ", ".join(d.isoformat() for d in days),
            "it" if len(days) == 1 else "them",
        )
        for again in plan_partitions(config, days).to_compute:
            followed[again.partition] = followed.get(again.partition, 0) + 1
            pending.append((again, 2))  # not the first attempt: never a cache hit, its input changed

    while pending or in_flight:
        while pending and len(in_flight) < max(1, max_concurrency):
            item, attempt = pending.pop()
            current = plan.current if attempt == 1 else frozenset()
            future = choose(item, current).submit(config, item.partition, item, was=plan.previous.get(item.partition))
            in_flight[future] = (item, attempt)
        future = next(as_completed(list(in_flight)))  # the first of them to finish
        item, attempt = in_flight.pop(future)
        future.wait()  # done already: this records its final state on the future
        outcome = outcome_of(item.partition, future.state, plan.held.get(item.partition))
        if outcome.outcome == "superseded" and attempt < MAX_INPUT_ATTEMPTS:
            get_run_logger().info("%s: computing it again", outcome.error)
            [again] = plan_partitions(config, [item.partition]).to_compute
            pending.append((again, attempt + 1))
            continue
        if outcome.outcome == "superseded":
            outcome = replace(
                outcome,
                outcome="failed",
                error=f"partition {item.partition}: its input kept changing over {attempt} attempts ({outcome.error})",
            )
        finished = [pair for pair in finished if pair[0].partition != outcome.partition]  # a day computed again
        finished.append((outcome, future.state))
        if on_outcome is not None:
            on_outcome(outcome)
        if outcome.displaced:
            follow(outcome)
    return sorted(finished, key=lambda pair: pair[0].partition)


@task(name="compute_partition", task_run_name="partition-{partition}", **CACHED, **IO_RETRIES)
def compute_partition(
    config: str, partition: dt.date, input: PartitionInput, was: str | None = None
) -> PartitionOutcome | State:
    """Every stage of the partition as plain calls, gated, then publish; one quality
    artifact and the asset events of what was published. Cached on (name, partition, input
    fingerprint); an unavailable service is retried. While it computes, the day shows as
    running in the grid. A failure ends the task run Failed with its cause as the message
    (no traceback: the cause is the news) and is recorded in the ledger; an outage and an
    input that changed while it computed are not recorded (the flow plans the day again and
    submits it with its new input). A failure is also a ``revenue.partition.failed`` event
    (an outage only once its retries are spent); a publish is a ``revenue.partition.published``
    event, and also ``revenue.partition.recovered`` when the day's state before the run
    (``was``) had been alerted on (failed, or missing past its deadline): the alerts of
    ``alerts.yaml``."""
    env = environment(config)
    results: list[GateResult] = []
    timings = stages.Timings()
    computed = None

    def gate(dataset, frame, day, parameters):
        result = run_gate(dataset, frame, day, parameters)
        results.append(result)
        return result

    try:
        with running(env.warehouse, partition, _run_id()):
            computed = stages.compute(env, input, gate, timings)
            outcome = stages.publish(env, computed, _run_id())
    except (InputSuperseded, ServiceUnavailableError) as change:
        # the flow plans the day again / Prefect retries it: no ledger record, no traceback
        if isinstance(change, ServiceUnavailableError) and _last_attempt():
            _alert_failure(env, config, partition, input, first_line(change))
        return Failed(message=f"partition {partition}: {first_line(change)}", data=change)
    except Exception as failure:
        cause = first_line(failure)
        quality_artifact(partition, f"failed: {cause}", computed, results, timings)
        try:
            stages.record_failure(env, input, _run_id(), failure)
        except Exception as error:  # the failure itself is what the run must report
            get_run_logger().warning("could not record the failure of %s in the ledger: %s", partition, error)
        get_run_logger().error("partition %s failed: %s", partition, cause)
        _alert_failure(env, config, partition, input, cause)
        return Failed(message=f"partition {partition} failed: {cause}", data=failure)
    quality_artifact(
        partition,
        f"published: revenue {outcome.revenue:,.2f} from {outcome.order_count:,} orders",
        computed,
        results,
        timings,
    )
    emit_asset_events(env, computed, outcome)
    emit_published(config, outcome.partition, outcome.fingerprint, _run_id())
    _resolve_alert(env, config, partition, was, outcome)
    get_run_logger().info("%s", describe(outcome))
    return outcome


def _resolve_alert(env, config: str, partition: dt.date, was: str | None, outcome: PartitionOutcome) -> None:
    """The "resolved" message of an alert sent about the day; a failure to send it never
    fails the publish."""
    try:
        resolve(env.warehouse, config, partition, was, env.block.alert_deadline, outcome, _run_id())
    except Exception as error:  # noqa: BLE001 - the day is published; only the message is lost
        get_run_logger().warning("could not send the resolved alert of %s: %s", partition, first_line(error))


def _alert_failure(env, config: str, partition: dt.date, input: PartitionInput, cause: str) -> None:
    """The failed-day alert's event; a failure to send it never hides the failure itself."""
    try:
        emit_failed(env.warehouse, config, partition.isoformat(), cause, input.fingerprint, _run_id())
    except Exception as error:  # noqa: BLE001 - the run reports the partition's own failure
        get_run_logger().warning("could not send the failed-day alert of %s: %s", partition, first_line(error))


def _last_attempt() -> bool:
    """Whether this task run has no retry left."""
    context = TaskRunContext.get()
    return context is None or context.task_run.run_count > (context.task.retries or 0)


def _run_id() -> str | None:
    return str(flow_run.id) if flow_run.id else None
