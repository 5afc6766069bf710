"""``fan_out``: the one way a run computes its planned partitions.

In process (the default), each day is a ``compute_partition`` task run of the calling flow
run (Prefect's futures: ``submit`` and ``as_completed``), never more than
``max_concurrency`` in flight, a failing day never stopping the others. With
``partitions_per_run``, the range goes out as chunk runs of the backfill deployment
instead (``flows.backfill_runs``). Either way each day reports to the run's
``RunProgress`` as it finishes, and every planned day comes back with its outcome.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from prefect import get_run_logger
from prefect.futures import PrefectFuture, as_completed
from prefect.states import State

from flows.outcomes import failure_of, outcome_of
from flows.partition import PartitionPlan, compute_partition, plan_partitions
from flows.progress import RunProgress
from revenue.io.environment import environment
from revenue.io.partition_input import PartitionInput
from revenue.stages import PartitionOutcome

MAX_INPUT_ATTEMPTS = 5
"""How often a partition is recomputed when its input keeps changing while it computes."""


@dataclass(frozen=True)
class FannedOut:
    """Every planned day's outcome, by day (computed, or skipped as up to date)."""

    outcomes: list[PartitionOutcome]
    states: dict[str, State] = field(default_factory=dict)
    """Each computed day's last task run's final state (in-process runs only)."""

    def error_of(self, outcome: PartitionOutcome) -> BaseException | None:
        """The exception the day's task run failed with (None: it did not fail, or ran in a chunk run)."""
        return failure_of(self.states.get(outcome.partition))


def fan_out(
    progress: RunProgress,
    force: bool = False,
    max_concurrency: int = 4,
    partitions_per_run: int = 0,
    skip_up_to_date: bool = False,
) -> FannedOut:
    """Compute the plan of ``progress`` (see the module docstring). The days skipped as up
    to date are reported first. A day whose input changed while it computed (``superseded``) is planned
    again and submitted with its new input (a new cache key), up to ``MAX_INPUT_ATTEMPTS``
    times; a day an order moved to or from by a publish is computed too. ``skip_up_to_date``
    is what each chunk run is asked to do. The outcomes are settled in ``progress`` (the grid
    drawn when its block ends reads them)."""
    config, plan = progress.config, progress.plan
    if partitions_per_run:
        from flows.backfill_runs import run_in_chunks

        chunks = run_in_chunks(
            config, progress.days, plan, force, max_concurrency, skip_up_to_date, partitions_per_run, progress.finished
        )
        fanned = FannedOut(chunks)
    else:
        for skipped in plan.up_to_date:
            progress.finished(skipped)
        fanned = _compute_in_process(config, plan, progress, force, max_concurrency)
    progress.settled(fanned.outcomes)
    return fanned


def _compute_in_process(
    config: str, plan: PartitionPlan, progress: RunProgress, force: bool, max_concurrency: int
) -> FannedOut:
    choose = _compute_task(config, force)
    pending = [(item, 1) for item in reversed(plan.to_compute)]
    in_flight: dict[PrefectFuture[Any], tuple[PartitionInput, int]] = {}
    finished: dict[str, tuple[PartitionOutcome, State | None]] = {o.partition: (o, None) for o in plan.up_to_date}
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
        finished[outcome.partition] = (outcome, future.state)  # a day computed again: its last outcome stands
        progress.finished(outcome)
        if outcome.displaced:
            follow(outcome)
    days = sorted(finished)
    return FannedOut(
        [finished[day][0] for day in days],
        {day: state for day in days if (state := finished[day][1]) is not None},
    )


def _compute_task(config: str, force: bool) -> Callable[[PartitionInput, frozenset[dt.date]], Any]:
    """``compute_partition`` bound to the environment's result storage. A day the
    warehouse does not hold at its input (or ``force``) recomputes and overwrites the
    cached result; only a current day may be a cache hit."""
    storage = environment(config).result_storage
    cached = compute_partition.with_options(result_storage=storage)
    refreshing = compute_partition.with_options(result_storage=storage, refresh_cache=True)

    def choose(planned: PartitionInput, current: frozenset[dt.date]) -> Any:
        return cached if planned.partition in current and not force else refreshing

    return choose
