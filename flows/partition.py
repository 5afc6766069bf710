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
what a partition reports when it ends (artifact, ledger, asset and alert events, log)
``flows.partition_report``, outcome mapping ``flows.outcomes``. ``flows.fan_out`` runs the
planned days; ``flows.progress`` follows them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from prefect import task
from prefect.states import State

from flows.partition_report import PartitionRun, report_failed, report_interrupted, report_published, run_id
from flows.policies import CACHED, IO_RETRIES
from revenue import stages
from revenue.errors import InputSuperseded, ServiceUnavailableError
from revenue.io.activity import running
from revenue.io.environment import environment
from revenue.io.errors import naming_partitions
from revenue.io.partition_input import PartitionInput, plan_inputs
from revenue.stages import PartitionOutcome
from revenue.status import CURRENT, classify_range
from revenue.status import State as PartitionState


@dataclass(frozen=True)
class PartitionPlan:
    """What a run must compute, and the partitions it can skip."""

    to_compute: list[PartitionInput]
    up_to_date: list[PartitionOutcome]
    current: frozenset[dt.date] = field(default_factory=frozenset)
    """Days the warehouse holds at their current input: only their cache may be used."""
    inputs: tuple[PartitionInput, ...] = ()
    """Every planned day's input (computed or skipped)."""
    previous: dict[dt.date, PartitionState] = field(default_factory=dict)
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
def plan_partitions(env: str, partitions: list[dt.date], skip_up_to_date: bool = False) -> PartitionPlan:
    """Every partition's input and whether the warehouse holds it, for the whole list at
    once (a few queries, no row of an unchanged day read). With ``skip_up_to_date``, current
    partitions are skipped. ``env``: the environment's name."""
    resolved = environment(env)
    with naming_partitions(partitions):
        inputs = plan_inputs(resolved, partitions)
        statuses = classify_range(resolved, inputs)
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


@task(name="compute_partition", task_run_name="partition-{partition}", **CACHED, **IO_RETRIES)
def compute_partition(
    env: str, partition: dt.date, input: PartitionInput, was: PartitionState | None = None
) -> PartitionOutcome | State:
    """Compute the partition's stages (each gated), publish it, report how it ended
    (``flows.partition_report``). Cached on (name, partition, input fingerprint); an
    unavailable service is retried. While it computes, the day shows as running in the
    grid. A failure ends the task run Failed with its cause as the message and is recorded
    in the ledger; an outage and an input that changed while it computed are not (the flow
    plans the day again and submits it with its new input). ``was``: the day's state before
    the run (a publish resolves an alert sent about it). ``env``: the environment's name."""
    run = PartitionRun(environment(env), env, partition, input)
    try:
        with running(run.env.warehouse, partition, run_id()):
            computed = run.compute()
            outcome = stages.publish(run.env, computed, run_id())
    except (InputSuperseded, ServiceUnavailableError) as change:
        return report_interrupted(run, change)
    except Exception as failure:
        return report_failed(run, failure)
    return report_published(run, outcome, was)
